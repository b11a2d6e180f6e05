"""The runner executes notebooks with papermill: run folders, skip-when-finished, failures kept."""

from __future__ import annotations

import json

import pytest

from lmrec.run.plan import build_plan
from lmrec.run.runner import run_plan

from .test_plan import make_notebook

FINISH = ('from lmrec.run import start_run\n'
          'run = start_run("{name}", RUN_DIR, params=dict(A=A), seed=0, device="cpu")\n'
          'run.finish({{"a": A * 2}}, table="t", row="r{name}", caption="c")')


@pytest.mark.slow
def test_runs_skips_finished_and_keeps_failed_notebook(tmp_path, monkeypatch):
    out = tmp_path / "outputs"
    monkeypatch.setenv("LMREC_OUTPUTS", str(out))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "00_ok", 'A = 1  # a\nRUN_DIR = ""  # runner', FINISH.format(name="00_ok"))
    make_notebook(nbdir, "01_fail", 'A = 1  # a\nRUN_DIR = ""  # runner', 'raise ValueError("planted failure")')
    notebooks = {p.stem: p for p in sorted(nbdir.glob("*.ipynb"))}
    plan = build_plan([], {"grid": {"00_ok": {"A": [2, 3]}}}, notebooks=notebooks)

    first = run_plan(plan, echo=lambda s: None)
    assert [o.status for o in first] == ["done", "done", "failed"]
    metrics = json.loads((first[1].folder / "metrics.json").read_text())
    assert metrics["metrics"] == {"a": 6.0} and metrics["params"] == {"A": 3} and metrics["table"] == "t"
    for name in ("params.json", "executed.ipynb", "log.txt", "env.json"):
        assert (first[0].folder / name).exists()
    assert (first[2].folder / "executed.ipynb").exists() and "planted failure" in first[2].error
    assert not (first[2].folder / "metrics.json").exists()

    second = run_plan(plan, echo=lambda s: None)
    assert [o.status for o in second] == ["skipped", "skipped", "failed"]
    third = run_plan(plan[:1], force=True, echo=lambda s: None)
    assert [o.status for o in third] == ["done"]


def test_a_run_is_stale_once_a_notebook_it_reads_has_a_newer_run(tmp_path, monkeypatch):
    import os

    import nbformat

    from lmrec.run.plan import PlanError
    from lmrec.run.runner import is_finished, run_folder

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "20_up", 'A = 1  # a\nRUN_DIR = ""  # runner')
    down = make_notebook(nbdir, "21_down", 'A = 1  # a\nRUN_DIR = ""  # runner')
    nb = nbformat.read(down, as_version=4)
    nb.metadata["lmrec"] = {"reads": ["20_up"]}
    nbformat.write(nb, down)
    notebooks = {p.stem: p for p in sorted(nbdir.glob("*.ipynb"))}
    up_run, down_run = build_plan([], {}, notebooks=notebooks)
    assert down_run.reads == ("20_up",) and up_run.reads == ()

    def finish(run, when):
        folder = run_folder(run)
        folder.mkdir(parents=True)
        (folder / "params.json").write_text(json.dumps({"params": run.params}))
        (folder / "metrics.json").write_text("{}")
        os.utime(folder / "metrics.json", (when, when))

    finish(up_run, 1_000_000)
    finish(down_run, 2_000_000)
    assert is_finished(up_run) and is_finished(down_run)
    os.utime(run_folder(up_run) / "metrics.json", (3_000_000, 3_000_000))  # the upstream ran again
    assert is_finished(up_run) and not is_finished(down_run)

    nb.metadata["lmrec"] = {"reads": ["99_missing"]}
    nbformat.write(nb, down)
    with pytest.raises(PlanError, match="99_missing"):
        build_plan([], {}, notebooks=notebooks)


@pytest.mark.slow
def test_kernel_messages_stay_off_the_terminal_and_progress_bars_have_widgets(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    body = ("import warnings\nwarnings.simplefilter('always')\nfrom tqdm.auto import tqdm\n"
            "total = sum(tqdm(range(3)))\n" + FINISH.format(name="00_bar"))
    make_notebook(nbdir, "00_bar", 'A = 1  # a\nRUN_DIR = ""  # runner', body)
    plan = build_plan([], {}, notebooks={p.stem: p for p in nbdir.glob("*.ipynb")})
    [outcome] = run_plan(plan, echo=lambda s: None)
    assert outcome.status == "done", outcome.error
    terminal = "".join(capfd.readouterr())
    assert "without encryption" not in terminal and "KeyboardInterrupt" not in terminal
    assert "without encryption" in (outcome.folder / "kernel.txt").read_text()  # kept, in the run folder
    executed = (outcome.folder / "executed.ipynb").read_text()
    assert "TqdmWarning" not in executed and "IProgress not found" not in executed


def test_make_lab_starts_jupyterlab_as_root_only_with_allow_root():
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dry = subprocess.run(["make", "-n", "-o", ".venv/.lmrec-installed", "lab"], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    lab = [line for line in dry.splitlines() if "jupyter lab" in line]
    assert lab and ("--allow-root" in lab[0]) == (os.getuid() == 0)


def test_cli_help_lists_the_report_command_with_examples(capsys):
    from lmrec.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "report-html" not in text and "{run,plan,report" in text and "python -m lmrec report " in text
    assert main(["plan", "10_gccf", "--set", "EPOCHS=abc"]) == 2
    assert "EPOCHS='abc' is a string" in capsys.readouterr().err


def test_report_command_reruns_the_report_notebook_into_the_html(monkeypatch):
    import lmrec.run.runner as runner
    from lmrec.__main__ import main

    seen = {}

    def fake_run_plan(plan, force=False, keep_going=True, kernel="lmrec", jobs=1):
        seen.update(plan=plan, force=force, kernel=kernel, jobs=jobs)
        return []

    monkeypatch.setattr(runner, "run_plan", fake_run_plan)
    assert main(["report", "--params", "params/smoke"]) == 0
    [run] = seen["plan"]
    assert run.notebook == "90_report" and run.html and seen["force"] and seen["kernel"] == "lmrec"
