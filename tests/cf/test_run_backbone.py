"""The notebooks' entry point: spec -> trained model -> the metrics and row the report reads."""

import pytest

from lmrec.cf import TrainConfig
from lmrec.cf.notebook import CFSpec, run_backbone

from .cf_planted import planted_dataset, planted_profiles


def test_run_backbone_reports_rlmrec_columns_and_rows(monkeypatch):
    ds = planted_dataset()
    up, ip = planted_profiles(ds)
    monkeypatch.setattr("lmrec.cf.notebook.load_profile_embeddings", lambda source, dataset: (up, ip))
    spec = CFSpec("gccf", alignment="gen", dim=8, layers=1,
                  train=TrainConfig(epochs=2, batch_size=128, eval_every=1, patience=1, progress=False))
    run = run_backbone(spec, dataset=ds)
    assert spec.row == "GCCF+Gen" and CFSpec("simgcl", alignment="con").row == "SimGCL+Con"
    m = run.metrics()
    assert {f"{n}@{k}" for n in ("recall", "ndcg") for k in (5, 10, 20)} <= set(m)
    assert list(run.table().index) == ["valid", "test"]
    assert "GCCF+Gen" in run.caption() and "Recall denominator" in run.caption()


def test_unknown_names_fail_with_the_choices():
    ds = planted_dataset()
    with pytest.raises(ValueError, match="lightgcn"):
        run_backbone(CFSpec("lightgnc"), dataset=ds)
    with pytest.raises(ValueError, match="con"):
        run_backbone(CFSpec("lightgcn", alignment="kd"), dataset=ds)
