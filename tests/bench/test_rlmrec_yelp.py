"""bench/rlmrec_yelp.py: which runs it reads, and how it lines them up with the released code's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .scripts import load_bench_script


@pytest.fixture(scope="module")
def yelp():
    return load_bench_script("rlmrec_yelp")


def write_run(root: Path, notebook: str, row: str, alignment: str, dataset: str, curve: list[tuple[int, float]],
              test_recall20: float, status: str = "converged") -> None:
    folder = root / "runs" / notebook / f"{alignment}-{abs(hash(dataset)) % 1000}"
    folder.mkdir(parents=True)
    best = max(curve, key=lambda c: c[1])
    folder.joinpath("metrics.json").write_text(json.dumps({
        "notebook": notebook, "row": row, "status": status, "params": {"DATASET": dataset, "ALIGNMENT": alignment},
        "metrics": {"recall@20": test_recall20, "ndcg@20": test_recall20 / 2, "mrr": 0.3},
        "extra": {"best_epoch": best[0], "epochs_run": curve[-1][0], "train_seconds": 10.0, "resumed_from": None}}))
    folder.joinpath("history.json").write_text(json.dumps(
        [{"epoch": e, "loss": 1.0} for e, _ in curve] + [{"epoch": e, "valid_recall@20": r, "valid_ndcg@20": r / 2}
                                                          for e, r in curve]))


def test_collects_yelp_runs_only_and_compares_with_the_released_code(yelp, tmp_path):
    curve = [(e, 0.05 + e / 3000) for e in range(3, 160, 3)]  # LightGCN reaches 0.1 at epoch 150
    write_run(tmp_path, "11_lightgcn", "LightGCN", "none", "rlmrec:../shared/data/rlmrec_yelp", curve, 0.11)
    write_run(tmp_path, "11_lightgcn", "LightGCN", "none", "ml100k", curve, 0.9)  # another dataset: left out
    write_run(tmp_path, "13_simgcl", "SimGCL", "none", "rlmrec:outputs/data/rlmrec/yelp", [(3, 0.1)], 0.1256 / 2,
              status="capped")
    records = yelp.collect(tmp_path)
    assert sorted(r["row"] for r in records) == ["LightGCN", "SimGCL"]
    comparison = {(c["row"], c["what"].split(" (")[0]): c for c in yelp.compare(records)}
    simgcl = comparison[("SimGCL", "test recall@20")]
    assert simgcl["ratio"] == pytest.approx(0.5) and simgcl["status"] == "capped"
    assert comparison[("AutoCF", "test recall@20")]["lmrec"] is None  # no run: no number, never another row's
    at144 = comparison[("LightGCN", "valid recall@20 at epoch 144")]
    assert at144["our_epoch"] == 144 and at144["lmrec"] == pytest.approx(0.05 + 144 / 3000)
    assert at144["ratio"] == pytest.approx((0.05 + 144 / 3000) / 0.1135, abs=1e-4)
    # a run that stopped before the reference epoch has no number at that epoch
    assert comparison[("GCCF", "valid recall@20 at epoch 321")]["lmrec"] is None


def test_valid_at_takes_the_last_validation_not_after_the_epoch(yelp):
    curve = [(3, 0.1, 0.05), (6, 0.2, 0.1), (9, 0.3, 0.15)]
    assert yelp.valid_at(curve, 7) == (6, 0.2, 0.1)
    assert yelp.valid_at(curve, 9) == (9, 0.3, 0.15)
    assert yelp.valid_at(curve, 10) is None  # the run never got there
    assert yelp.valid_at(curve, 2) is None


def test_a_diagnostic_run_answers_an_epoch_the_released_schedule_run_did_not_reach(yelp, tmp_path):
    main, diag = tmp_path / "main", tmp_path / "diag"
    write_run(main, "10_gccf", "GCCF", "none", "rlmrec:rlmrec_yelp", [(e, 0.1) for e in range(3, 211, 3)], 0.1)
    write_run(diag, "10_gccf", "GCCF", "none", "rlmrec:rlmrec_yelp", [(e, e / 3000) for e in range(3, 323, 3)], 0.1,
              status="epoch_limit")
    released = {c["what"].split(" (")[0]: c for c in yelp.compare(yelp.collect(main)) if c["row"] == "GCCF"}
    assert released["valid recall@20 at epoch 321"]["lmrec"] is None  # stopped at 210
    both = {c["what"].split(" (")[0]: c for c in yelp.compare(yelp.collect(main), yelp.collect(diag)) if c["row"] == "GCCF"}
    at321 = both["valid recall@20 at epoch 321"]
    assert at321["lmrec"] == pytest.approx(321 / 3000) and "diagnostic run" in at321["what"]
