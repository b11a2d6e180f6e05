"""Pieces of bench/gpu_bench.py that decide what the GPU JSON says: why a run stopped, the synthetic split of the
smoke run, and the summary printed at the end of the device call."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from lmrec.data import load_dataset

from .scripts import load_bench_script


@pytest.fixture(scope="module")
def gpu_bench():
    return load_bench_script("gpu_bench")


def result(best_epoch: int, epochs_run: int, eval_epochs: list[int]):
    history = [{"epoch": e, "loss": 1.0, **({"valid_recall@20": 0.1} if e in eval_epochs else {})}
               for e in range(1, epochs_run + 1)]
    return SimpleNamespace(best_epoch=best_epoch, epochs_run=epochs_run, history=history)


def test_smoke_split_is_a_planted_rlmrec_folder(gpu_bench, tmp_path):
    folder = gpu_bench.smoke_split(tmp_path / "split", n_users=20, n_items=10, per_user=4)
    ds = load_dataset(f"rlmrec:{folder}", "given")
    assert (ds.n_users, ds.n_items) == (20, 10)
    assert ds.train.nnz == 20 * 2 and ds.valid.nnz == ds.test.nnz == 20
    full = (ds.train + ds.valid + ds.test).toarray()
    users = np.arange(20)
    # every user's items lie in its group's half: even users 0-4, odd users 5-9
    assert full[users % 2 == 0][:, 5:].sum() == 0 and full[users % 2 == 1][:, :5].sum() == 0


def test_summary_lists_each_backbone_and_reports_errors(gpu_bench, tmp_path):
    assert "nothing measured" in gpu_bench.summary(tmp_path)
    ok = {"status": "converged", "best_epoch": 75, "epochs_run": 90, "seconds_per_epoch": 0.5,
          "wall_to_best_s": 40.0, "test": {"recall@20": 0.1256, "ndcg@20": 0.0794}}
    cf = {"dataset": "yelp", "env": {"machine": "H200"},
          "backbones": {"simgcl": ok, "autocf": {"status": "error", "error": "RuntimeError: CUDA out of memory"}}}
    (tmp_path / "cf_yelp.json").write_text(json.dumps(cf))
    text = gpu_bench.summary(tmp_path)
    assert "simgcl | converged | 75 / 90 | 0.500 | 40.0 | 0.1256 | 0.0794" in text
    assert "autocf | error | RuntimeError: CUDA out of memory" in text
