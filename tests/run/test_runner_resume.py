"""The runner and the engine together: a capped run is re-run and resumes; --force starts afresh."""

from __future__ import annotations

import json

import pytest

from lmrec.run.plan import build_plan
from lmrec.run.runner import run_plan

from .test_plan import make_notebook

TRAIN = '''import torch
from lmrec.run import start_run
from lmrec.train import FitConfig, TrainingState, fit
run = start_run("00_train", RUN_DIR, params=dict(LIMIT=LIMIT), seed=0, device="cpu")
model = torch.nn.Linear(1, 1)
def epoch_body(epoch):
    model.weight.data.add_(1.0)
    return {"loss": 1.0}
out = fit(epoch_body, lambda e: {"score": float(model.weight)}, FitConfig(epochs=3, select_metric="score",
          time_limit_s=LIMIT, progress=False), TrainingState({"model": model}), run.dir)
run.finish({"epochs_run": out.epochs_run, "resumed_from": out.resumed_from}, status=out.status)'''


@pytest.mark.slow
def test_a_capped_run_is_rerun_and_resumes_and_force_starts_afresh(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "00_train", 'LIMIT = 0.0  # budget\nRUN_DIR = ""  # runner', TRAIN)
    plan = build_plan([], {}, notebooks={p.stem: p for p in nbdir.glob("*.ipynb")})

    def once(force: bool = False) -> tuple[str, dict]:
        [outcome] = run_plan(plan, force=force, echo=lambda s: None)
        assert outcome.status != "failed", outcome.error
        record = json.loads((outcome.folder / "metrics.json").read_text())
        return outcome.status, {"status": record["status"], **record["metrics"]}

    # a zero budget stops after every epoch; each re-run continues where the last one stopped
    assert once() == ("done", {"status": "capped", "epochs_run": 1.0, "resumed_from": 0.0})
    assert once() == ("done", {"status": "capped", "epochs_run": 2.0, "resumed_from": 2.0})
    assert once() == ("done", {"status": "completed", "epochs_run": 3.0, "resumed_from": 3.0})
    assert once()[0] == "skipped"
    assert once(force=True) == ("done", {"status": "capped", "epochs_run": 1.0, "resumed_from": 0.0})


def test_a_finished_run_stays_finished_under_another_budget(tmp_path, monkeypatch):
    """Re-running a converged run with another TIME_LIMIT_S must not count it stale (a stale run is re-run from
    scratch, its checkpoints cleared); any other parameter still does."""
    from lmrec.run.runner import is_finished, run_folder
    from lmrec.utils import write_json

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "00_train", 'LR = 0.1  # rate\nTIME_LIMIT_S = 0  # budget\nRUN_DIR = ""  # runner', "x = 1")
    notebooks = {p.stem: p for p in nbdir.glob("*.ipynb")}

    def planned(**overrides):
        [run] = build_plan([], {}, overrides, notebooks=notebooks)
        return run

    ran = planned(TIME_LIMIT_S=3000)
    folder = run_folder(ran)
    folder.mkdir(parents=True)
    write_json(folder / "params.json", {"notebook": ran.notebook, "params": ran.params, "key": ran.key})
    write_json(folder / "metrics.json", {"status": "converged", "metrics": {}})
    assert is_finished(planned(TIME_LIMIT_S=60)) and is_finished(planned())
    assert run_folder(planned(LR=0.2, TIME_LIMIT_S=3000)) != folder
    write_json(folder / "metrics.json", {"status": "capped", "metrics": {}})
    assert not is_finished(planned(TIME_LIMIT_S=60))  # capped: a re-run resumes it
