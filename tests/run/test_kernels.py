"""Kernels started ahead: each run still gets its own fresh kernel, started while the run before it executed."""

from __future__ import annotations

import json

import nbformat
import pytest

from lmrec.run.kernels import first_cell_imports
from lmrec.run.plan import build_plan
from lmrec.run.runner import run_plan

from .test_plan import make_notebook


def test_first_cell_imports_are_the_import_statements_of_the_first_code_cell(tmp_path):
    path = make_notebook(tmp_path, "00_x", 'RUN_DIR = ""  # runner')
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# title"))
    nb.cells.insert(1, nbformat.v4.new_code_cell("%load_ext autoreload\n%autoreload 2\nimport json\n"
                                                 "from pathlib import Path as P\nx = 1\nif x:\n    import os"))
    nbformat.write(nb, path)
    assert first_cell_imports(path) == "import json\nfrom pathlib import Path as P"


KERNEL_FACTS = ('import json\nimport os\nimport time\n\nimport psutil\n'
                'started = psutil.Process().create_time()\nfirst_cell_at = time.time()\n'
                'mark = getattr(json, "_lmrec_mark", None)\njson._lmrec_mark = A\n')
FINISH = ('from lmrec.run import start_run\n'
          'run = start_run("{name}", RUN_DIR, params=dict(A=A), seed=0, device="cpu")\n'
          'run.finish({{"a": A}}, extra={{"pid": os.getpid(), "started": started, "first_cell_at": first_cell_at, '
          '"mark": mark}})')


@pytest.mark.slow
def test_each_run_gets_a_fresh_kernel_started_while_the_run_before_executed(tmp_path, monkeypatch):
    import psutil

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    path = make_notebook(nbdir, "00_k", 'A = 1  # a\nRUN_DIR = ""  # runner', FINISH.format(name="00_k"))
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import json\nimport os\nimport time\n\nimport psutil"))
    nb.cells.insert(2, nbformat.v4.new_code_cell(KERNEL_FACTS + "time.sleep(2)"))  # the next kernel starts meanwhile
    nbformat.write(nb, path)
    plan = build_plan([], {"grid": {"00_k": {"A": [1, 2, 3]}}}, notebooks={"00_k": path})

    outcomes = run_plan(plan, echo=lambda s: None)
    assert [o.status for o in outcomes] == ["done"] * 3, [o.error for o in outcomes]
    facts = [json.loads((o.folder / "metrics.json").read_text())["extra"] for o in outcomes]
    assert len({f["pid"] for f in facts}) == 3, "every run has its own kernel process"
    assert [f["mark"] for f in facts] == [None] * 3, "nothing a run set is seen by the next one"
    for before, after in zip(facts, facts[1:]):
        assert after["started"] < before["first_cell_at"] + 2, "the next run's kernel started while this one ran"
    assert not any(psutil.pid_exists(f["pid"]) and psutil.Process(f["pid"]).status() != psutil.STATUS_ZOMBIE
                   for f in facts), "every kernel is stopped"
    executed = nbformat.read(outcomes[1].folder / "executed.ipynb", as_version=4)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"][:2] == [1, 2], \
        "the imports sent ahead take no execution count and show nothing"
    assert "without encryption" in (outcomes[1].folder / "kernel.txt").read_text()


@pytest.mark.slow
def test_a_first_cell_that_fails_in_the_kernel_started_ahead_fails_in_the_run_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "00_ok", 'A = 1  # a\nRUN_DIR = ""  # runner',
                  'from lmrec.run import start_run\nstart_run("00_ok", RUN_DIR, seed=0, device="cpu").finish({"a": A})')
    bad = make_notebook(nbdir, "01_bad", 'A = 1  # a\nRUN_DIR = ""  # runner', "x = 1")
    nb = nbformat.read(bad, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import json\nimport lmrec_no_such_module"))
    nbformat.write(nb, bad)
    plan = build_plan([], {}, notebooks={p.stem: p for p in sorted(nbdir.glob("*.ipynb"))})

    ok, failed = run_plan(plan, echo=lambda s: None)
    assert ok.status == "done", ok.error
    assert failed.status == "failed" and "lmrec_no_such_module" in failed.error
    first = next(c for c in nbformat.read(failed.folder / "executed.ipynb", as_version=4).cells if c.cell_type == "code")
    assert first.outputs and first.outputs[0]["ename"] == "ModuleNotFoundError", "the error shows in the run's own cell"


def test_an_unknown_kernel_fails_each_run_with_papermills_message_and_stops_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    path = make_notebook(tmp_path, "00_k", 'A = 1  # a\nRUN_DIR = ""  # runner')
    plan = build_plan([], {"grid": {"00_k": {"A": [1, 2]}}}, notebooks={"00_k": path})
    outcomes = run_plan(plan, kernel="lmrec_no_such_kernel", echo=lambda s: None)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert all("lmrec_no_such_kernel" in o.error for o in outcomes), [o.error for o in outcomes]
