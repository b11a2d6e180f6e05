"""The notebooks' entry point: spec -> trained model -> the metrics and row the report reads."""

import pytest
import torch

from lmrec.cf.notebook import CFSpec, train_backbone
from lmrec.rlmrec.embeddings import profile_targets

from .cf_planted import planted_dataset, planted_profiles

TINY = {"EPOCHS": 2, "BATCH_SIZE": 128, "EVAL_EVERY": 1, "PATIENCE": 1}


def test_train_backbone_reports_rlmrec_columns_and_rows(monkeypatch):
    ds = planted_dataset()
    up, ip = planted_profiles(ds)
    monkeypatch.setattr("lmrec.rlmrec.embeddings.target_embeddings", lambda source, dataset: (up, ip))
    user_ok = torch.ones(ds.n_users, dtype=torch.bool)
    user_ok[:10] = False  # ten failed user profiles
    monkeypatch.setattr("lmrec.rlmrec.embeddings.target_masks",
                        lambda source, dataset: (user_ok, torch.ones(ds.n_items, dtype=torch.bool)))
    spec = CFSpec.from_notebook("gccf", {"ALIGNMENT": "gen", "EMBED_DIM": 8, "LAYERS": 1, **TINY}, progress=False)
    trained = train_backbone(spec, dataset=ds, targets=profile_targets(spec, ds))
    assert spec.row == "GCCF+Gen" and CFSpec.from_notebook("simgcl", {"ALIGNMENT": "con"}).row == "SimGCL+Con"
    m = trained.metrics()
    assert {f"{n}@{k}" for n in ("recall", "ndcg") for k in (5, 10, 20)} <= set(m)
    assert list(trained.table().index) == ["valid", "test"]
    assert "GCCF+Gen" in trained.caption() and "Recall denominator" in trained.caption()
    assert f"LLM profiles for {ds.n_users - 10} of {ds.n_users} users" in trained.caption()
    assert "masked out of the alignment loss" in trained.caption()


def test_unknown_names_fail_with_the_choices():
    ds = planted_dataset()
    with pytest.raises(ValueError, match="lightgcn"):
        CFSpec.from_notebook("lightgnc")
    with pytest.raises(ValueError, match="con"):
        train_backbone(CFSpec.from_notebook("lightgcn", {"ALIGNMENT": "kd"}), dataset=ds)
    with pytest.raises(ValueError, match="needs alignment targets.*profile_targets"):
        train_backbone(CFSpec.from_notebook("lightgcn", {"ALIGNMENT": "con"}), dataset=ds)
    with pytest.raises(ValueError, match=r"missing.*from_notebook"):
        CFSpec.from_params("lightgcn", {"ALIGNMENT": "none"})


def test_cllm4rec_protocol_changes_cutoffs_and_recall_denominator():
    ds = planted_dataset()
    small = {"EMBED_DIM": 8, "LAYERS": 1, **TINY, "EPOCHS": 1}
    plain = train_backbone(CFSpec.from_notebook("lightgcn", small, progress=False), dataset=ds)
    spec = CFSpec.from_notebook("lightgcn", {**small, "KS": [20, 40], "RECALL_DENOMINATOR": "min_k", "TABLE": "cllm4rec"},
                                progress=False)
    other = train_backbone(spec, dataset=ds)
    assert set(other.metrics()) == {"recall@20", "recall@40", "ndcg@20", "ndcg@40", "valid_recall@20"}
    assert "min(K,|T|)" in other.caption() and "|T|;" in plain.caption()
    # same seed and training, so the rankings agree: Recall@20 over min(20,|T|) can only be >= over |T|
    assert other.metrics()["recall@20"] >= plain.metrics()["recall@20"] - 1e-9
    with pytest.raises(ValueError, match="must include 20"):
        CFSpec.from_notebook("lightgcn", {"KS": [10, 50]})


def test_split_seed_fixes_the_split_while_seed_varies_training(monkeypatch):
    """Seeds over training share one split (the LLM profiles belong to it); -1 draws the split with SEED."""
    calls = []
    monkeypatch.setattr("lmrec.cf.notebook.load_dataset", lambda *a, **kw: calls.append(kw["seed"]))
    from lmrec.cf.notebook import load_cf_data

    for seed in (2023, 2024, 2025):
        load_cf_data(CFSpec.from_notebook("lightgcn", {"SEED": seed, "SPLIT_SEED": 2023}))
    load_cf_data(CFSpec.from_notebook("lightgcn", {"SEED": 7, "SPLIT_SEED": -1}))
    assert calls == [2023, 2023, 2023, 7]


@pytest.mark.parametrize("name,backbone", [("10_gccf", "gccf"), ("11_lightgcn", "lightgcn"), ("12_sgl", "sgl"),
                                           ("13_simgcl", "simgcl"), ("14_dccf", "dccf"), ("15_autocf", "autocf")])
def test_each_cf_notebook_parameter_reaches_its_spec(name, backbone):
    """Every name of the parameters cell lands in the spec (shared fields, CFTrainConfig or the backbone's Params):
    a notebook value that never reached the model would make its default a second, silent one."""
    from lmrec.defaults import notebook_defaults

    params = notebook_defaults(name)
    changed = {k: (v + 1 if isinstance(v, int) and not isinstance(v, bool) and k not in ("KS",) else v)
               for k, v in params.items()}
    spec = CFSpec.from_params(backbone, changed)
    assert spec.backbone == backbone and spec.seed == changed["SEED"] and spec.dim == changed["EMBED_DIM"]
    assert spec.train.epochs == changed["EPOCHS"] and spec.train.patience == changed["PATIENCE"]
    own = {k.lower() for k in params} - {"seed", "split_seed", "layers", "epochs", "patience"}
    assert set(spec.extra) <= own and all(spec.extra[k] == changed[k.upper()] for k in spec.extra)
    with pytest.raises(ValueError, match="KEEP_RATIO"):
        CFSpec.from_params(backbone, {**params, "KEEP_RATIO": 0.5})
