"""Resume through real methods: a CF run killed with SIGKILL and SASRec interrupted or capped end with the
numbers of an uninterrupted run (CPU, deterministic kernels)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lmrec.train import CHECKPOINT_NAME

ROOT = Path(__file__).resolve().parents[2]


def _worker(out: Path, ckpt: Path, delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "tests.train.cf_worker", str(out), str(ckpt), str(delay)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_cf_run_killed_with_sigkill_resumes_to_the_uninterrupted_numbers(tmp_path):
    ref = _worker(tmp_path / "ref.json", tmp_path / "ref")
    assert ref.wait(300) == 0, ref.stdout.read().decode()
    expected = json.loads((tmp_path / "ref.json").read_text())

    victim = _worker(tmp_path / "killed.json", tmp_path / "run", delay=0.3)
    ckpt = tmp_path / "run" / CHECKPOINT_NAME
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and victim.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint appeared"
    time.sleep(0.4)  # into the next epochs, past the checkpoint
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert not (tmp_path / "killed.json").exists()  # it really died mid-run
    resumed_from = torch.load(ckpt, weights_only=False)["epoch"] + 1

    again = _worker(tmp_path / "resumed.json", tmp_path / "run")
    assert again.wait(300) == 0, again.stdout.read().decode()
    got = json.loads((tmp_path / "resumed.json").read_text())
    assert got["resumed_from"] == resumed_from > 1
    assert got["test"] == expected["test"] and got["digest"] == expected["digest"]
    assert got["losses"] == expected["losses"] and got["best_epoch"] == expected["best_epoch"]
    assert torch.load(ckpt, weights_only=False)["finished"]


def _sasrec(tmp: Path | None, time_limit: float | None = None, fail_at: int | None = None):
    from lmrec.seqrec import LeaveOneOut
    from lmrec.seqrec.sasrec import SASRec, SASRecConfig, evaluate_sasrec, train_sasrec
    from lmrec.utils import seed_everything, use_deterministic_kernels
    from tests.cf.cf_planted import planted_dataset

    seed_everything(0)
    use_deterministic_kernels(True)
    ds = planted_dataset()
    config = SASRecConfig(hidden_dim=16, n_blocks=1, max_len=6, loss="bce", epochs=8, batch_size=8, eval_every=2,
                          patience=0, time_limit_s=time_limit, seed=0)
    model = SASRec(ds.n_items, config)

    def interrupt(row: dict) -> None:
        if row["epoch"] == fail_at:
            raise KeyboardInterrupt

    loo = LeaveOneOut.from_dataset(ds)
    result = train_sasrec(model, ds, config, loo=loo, checkpoint_dir=tmp, on_eval=interrupt)
    return result, evaluate_sasrec(model, ds, "test", loo).metrics


def test_sasrec_interrupted_or_capped_resumes_to_the_uninterrupted_numbers(tmp_path):
    ref, ref_test = _sasrec(None)
    with pytest.raises(KeyboardInterrupt):
        _sasrec(tmp_path / "a", fail_at=5)
    resumed, test = _sasrec(tmp_path / "a")
    assert resumed.history[-1]["loss"] == ref.history[-1]["loss"] and test == ref_test

    capped, _ = _sasrec(tmp_path / "b", time_limit=0.0)
    assert capped.status == "capped" and capped.epochs_run == 1
    resumed, test = _sasrec(tmp_path / "b")
    assert resumed.status == "completed" and test == ref_test
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in ref.history]
