"""The runner's ``--jobs``: runs of one notebook side by side, each kernel with its share of the cores."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from lmrec.run.kernel_env import usable_cores
from lmrec.run.plan import build_plan
from lmrec.run.runner import run_folder, run_plan, waves

from .test_plan import make_notebook


def fake_plan(*notebooks: str) -> list:
    return [SimpleNamespace(notebook=nb) for nb in notebooks]


def test_waves_keep_notebooks_apart_and_the_first_run_alone():
    plan = fake_plan("00", "10", "10", "10", "10", "20", "20", "20", "21")
    todo = [True] * len(plan)
    assert waves(plan, todo, jobs=2) == [([0], []), ([1], [2, 3, 4]), ([5], [6, 7]), ([8], [])]
    assert waves(plan, todo, jobs=1) == [([0], []), ([1, 2, 3, 4], []), ([5, 6, 7], []), ([8], [])]


def test_finished_runs_stay_alone_and_two_pending_runs_run_one_after_the_other():
    plan = fake_plan("10", "10", "10", "10", "20", "20", "20")
    todo = [False, True, True, True, True, False, True]
    # notebook 10: run 0 is finished (skipped), 1 is the first to execute, 2-3 go together;
    # notebook 20: two runs to execute gain nothing from a pool (the first would run alone anyway)
    assert waves(plan, todo, jobs=2) == [([0, 1], [2, 3]), ([4, 5, 6], [])]


PROBE = ('import os, time, torch\n'
         'from lmrec.run import start_run\n'
         'run = start_run("00_probe", RUN_DIR, params=dict(A=A), seed=0, device="cpu")\n'
         't0 = time.time(); time.sleep(3); t1 = time.time()\n'
         'run.finish({"torch_threads": torch.get_num_threads(), "start": t0, "end": t1}, table="t", row="r",\n'
         '           caption="c")')


@pytest.mark.slow
@pytest.mark.skipif(usable_cores() < 2, reason="sharing out the cores needs two")
def test_runs_of_one_notebook_execute_side_by_side_with_a_share_of_the_cores(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "00_probe", 'A = 1  # a\nRUN_DIR = ""  # runner', PROBE)
    plan = build_plan([], {"grid": {"00_probe": {"A": [1, 2, 3]}}}, notebooks={"00_probe": nbdir / "00_probe.ipynb"})
    outcomes = run_plan(plan, echo=lambda s: None, jobs=2)
    assert [o.run.name for o in outcomes] == [r.name for r in plan]
    assert [o.status for o in outcomes] == ["done"] * 3, [o.error for o in outcomes]
    metrics = [json.loads((o.folder / "metrics.json").read_text())["metrics"] for o in outcomes]
    assert [m["torch_threads"] for m in metrics] == [usable_cores(), usable_cores() // 2, usable_cores() // 2]
    first, second, third = metrics
    assert first["end"] <= min(second["start"], third["start"])          # the first run alone
    assert second["start"] < third["end"] and third["start"] < second["end"]  # the other two side by side

    again = run_plan(plan, echo=lambda s: None, jobs=2)          # finished runs are skipped, in plan order
    assert [o.status for o in again] == ["skipped"] * 3


FAILS_AT_2 = ('import time\n'
              'from lmrec.run import start_run\n'
              'run = start_run("00_probe", RUN_DIR, params=dict(A=A), seed=0, device="cpu")\n'
              'assert A != 2, "planted failure"\n'
              'time.sleep(2)\n'
              'run.finish({"a": A}, table="t", row="r", caption="c")')


@pytest.mark.slow
@pytest.mark.skipif(usable_cores() < 2, reason="sharing out the cores needs two")
def test_stop_on_failure_leaves_the_runs_not_started_unexecuted(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "00_probe", 'A = 1  # a\nRUN_DIR = ""  # runner', FAILS_AT_2)
    plan = build_plan([], {"grid": {"00_probe": {"A": [1, 2, 3, 4, 5, 6, 7, 8]}}},
                      notebooks={"00_probe": nbdir / "00_probe.ipynb"})
    outcomes = run_plan(plan, echo=lambda s: None, jobs=2, keep_going=False)
    status = {o.run.params["A"]: o.status for o in outcomes}
    assert status[1] == "done" and status[2] == "failed"
    # the pool holds at most jobs + 1 runs ahead of its workers: the last runs were never started
    assert len(outcomes) < len(plan) and not (run_folder(plan[-1]) / "metrics.json").exists()
    assert [o.run.name for o in outcomes] == sorted((o.run.name for o in outcomes), key=[r.name for r in plan].index)
