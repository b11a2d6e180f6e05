"""The HTML report renders offline: opened in headless Chromium (Debian's ``chromium``) with every host name
unresolvable, its tables, plots and equations are there. Skipped, with the reason, where no Chromium is
installed (``.ci/run`` installs it)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest

from lmrec.run.runner import export_html, markdown_math_to_mathml, strip_remote_scripts

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)")
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--disable-background-networking", "--no-first-run"]


def chromium(html: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *OFFLINE, *args, html.resolve().as_uri()], capture_output=True, text=True,
                          timeout=120, check=True)


BROWSER_OWN = re.compile(r"^https?://([^/]*\.)?(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)(:\d+)?(/|$)")


def page_requests(html: Path, netlog: Path) -> list[str]:
    """The http(s) URLs Chromium tried to fetch while opening ``html`` (its own background calls left out)."""
    chromium(html, f"--log-net-log={netlog}", "--dump-dom")
    urls = set(re.findall(r'"(https?://[^"\s]+)"', netlog.read_text(errors="replace")))
    return sorted(u for u in urls if not BROWSER_OWN.match(u) and "~notfound" not in u and u not in ("http://", "https://"))


def screenshot(html: Path, png: Path, height: int = 1400) -> np.ndarray:
    import matplotlib.image as mpimg

    chromium(html, f"--screenshot={png}", f"--window-size=1100,{height}")
    return mpimg.imread(png)[..., :3]


def executed_notebook(path: Path) -> Path:
    """A notebook as the runner leaves it: a Markdown cell with equations, a Markdown table output, a plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [0.1, 0.3, 0.2], color="C3", linewidth=4)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "lmrec", "display_name": "Python (lmrec)", "language": "python"}
    code = nbformat.v4.new_code_cell("display(table); plt.show()")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/markdown": "| rlmrec | recall@20 |\n|:--|--:|\n| LightGCN | 0.3000 |\n| MostPop | 0.1700 |",
            "text/plain": "<Markdown>"}),
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(buf.getvalue()).decode(),
                                                     "text/plain": "<Figure>"}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell(
        "# Report\nLoss $\\mathcal{L} = \\mathcal{L}_{bpr}\n+ \\lambda \\lVert W \\rVert^2$ and\n"
        "$$\\bar x \\pm t_{0.975,\\,n-1}\\, s / \\sqrt{n}$$"), code]
    nbformat.write(nb, path)
    return path


def test_math_becomes_mathml_and_plus_lines_stay_inside_their_equation():
    out = markdown_math_to_mathml("a $x\n+ y$ b\n\n- a list item\n\n`$kept$` and $$\\frac{1}{n}$$")
    assert out.count("<math") == 2 and "display=\"block\"" in out and "`$kept$`" in out
    assert "\n+ " not in out and "\n- a list item" in out  # the equation's '+' line is joined, the list is kept
    html = '<script src="https://cdn.jsdelivr.net/npm/mermaid.min.js"></script><script>require(["x"])</script>' \
           '<script type="text/x-mathjax-config">MathJax.Hub.Config({})</script><p>kept</p>'
    assert strip_remote_scripts(html) == '<script>require(["x"])</script><p>kept</p>'


def test_exported_html_references_nothing_on_the_network(tmp_path):
    html = export_html(executed_notebook(tmp_path / "executed.ipynb"), tmp_path / "index.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?://", html)
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html and "require.min.js" not in html
    assert not re.search(r"<script[^>]*>[^<]*(MathJax|mermaid|requirejs)", html, re.I)
    assert html.count("<math") == 2 and "<table" in html and "data:image/png;base64" in html


@needs_chromium
def test_report_renders_tables_plots_and_equations_in_headless_chromium_offline(tmp_path):
    html = export_html(executed_notebook(tmp_path / "executed.ipynb"), tmp_path / "index.html")
    dom = chromium(html, "--dump-dom").stdout
    assert dom.count("<table") >= 1 and "LightGCN" in dom
    assert re.search(r"<img[^>]+src=\"data:image/png;base64,", dom) and dom.count("<math") == 2
    assert page_requests(html, tmp_path / "net.json") == []
    shot = screenshot(html, tmp_path / "shot.png")
    red = (shot[..., 0] > 0.7) & (shot[..., 1] < 0.4) & (shot[..., 2] < 0.4)  # the plot's C3 line drawn on screen
    dark = shot.mean(axis=2) < 0.3                                              # text: title, table, equations
    assert red.sum() > 200 and dark.sum() > 500


@pytest.mark.slow
@needs_chromium
def test_report_notebook_from_runs_on_two_datasets_renders_offline(tmp_path, monkeypatch):
    """Notebook 90 run by the runner on runs of two datasets: one table per dataset, links to the run folders,
    provenance with the commit, and the HTML opens in Chromium with its tables and plots."""
    from lmrec.paths import report_dir
    from lmrec.run.plan import build_plan, find_notebooks
    from lmrec.run.runner import run_plan

    from .test_report import put

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    runs = tmp_path / "outputs" / "runs"
    history = [{"epoch": e, "valid_recall@20": 0.1 * e} for e in (1, 2, 3)]
    for seed in (1, 2, 3):
        put(runs, "11_lightgcn", f"alignment=none-seed={seed}-x", "LightGCN", {"recall@20": 0.30 + seed / 100},
            seed=seed, history=history, commit="feedc0ffee1234567890")
    put(runs, "05_most_popular", "other", "MostPop", {"recall@20": 0.55},
        {"DATASET": "cllm4rec:data/beauty", "SPLIT": "given", "MIN_RATING": 0}, users=500)
    plan = build_plan(["90_report"], {"html": ["90_report"]}, notebooks=find_notebooks())
    [outcome] = run_plan(plan, echo=lambda s: None)
    assert outcome.status == "done", outcome.error
    html = report_dir() / "index.html"
    dom = chromium(html, "--dump-dom").stdout
    assert "ml100k · rlmrec split · ratings &gt;= 4 · 920 test users" in dom
    assert "cllm4rec:data/beauty · given split · 500 test users" in dom
    assert "0.3200 ± 0.0248" in dom and "feedc0ffee" in dom  # mean ± t-interval over 3 seeds; the commit
    assert 'href="../runs/11_lightgcn/alignment=none-seed=1-x/"' in dom
    assert dom.count("<table") >= 3 and len(re.findall(r"<img[^>]+src=\"data:image/png", dom)) >= 3
    assert "PosixPath" not in dom and "finished runs;" not in dom
    shot = screenshot(html, Path("/tmp/rep/report_shot.png") if Path("/tmp/rep").is_dir() else tmp_path / "s.png", height=2400)
    assert (shot.mean(axis=2) < 0.3).sum() > 2000
    assert json.loads((outcome.folder / "metrics.json").read_text())["metrics"]["n_tables"] == 2
