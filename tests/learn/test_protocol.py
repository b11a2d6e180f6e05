"""LEARN's evaluation protocol (``MASK_HISTORY``, notebook 40's; 41 takes it over): masked, the user's history cannot
be recommended; not masked (Recformer's ``Ranker``, behind LEARN's published numbers), it is ranked like any item.
The protocol reaches the evaluator, the selection during training, the towers' key and notebook 41."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrec.data import InteractionDataset, make_interactions
from lmrec.defaults import notebook_defaults
from lmrec.learn import (
    LearnModel,
    LearnTrainConfig,
    TowerConfig,
    evaluate_towers,
    pretrained_towers,
    save_towers,
    train,
)
from lmrec.learn.pipeline import content_config, pretrained_key, tower_config, train_config
from lmrec.seqrec import LeaveOneOut
from lmrec.seqrec.evaluate import encode_histories

N_ITEMS = 10  # <= 10: with nothing masked every target is in the top 10, with the history masked none is


def repeat_dataset(n_users: int = 30, seed: int = 0) -> InteractionDataset:
    """Every user walks 4 items, then returns to its 2nd (valid) and 3rd (test): both targets are history items."""
    rng = np.random.default_rng(seed)
    users, items, splits, times = [], [], [], []
    for u in range(n_users):
        walk = ((int(rng.integers(N_ITEMS)) + np.arange(4)) % N_ITEMS).tolist()
        seq = walk + [walk[1], walk[2]]
        users += [u] * len(seq)
        items += seq
        splits += ["train"] * 4 + ["valid", "test"]
        times += list(range(len(seq)))
    inter = make_interactions(np.array(users), np.array(items), np.array(splits, dtype=object),
                              timestamp=np.array(times, float))
    return InteractionDataset(name="repeat", interactions=inter, n_users=n_users, n_items=N_ITEMS,
                              user_ids=np.arange(n_users).astype(str).astype(object),
                              item_ids=np.arange(N_ITEMS).astype(str).astype(object), split_protocol="loo_time")


def towers(seed: int = 0) -> LearnModel:
    torch.manual_seed(seed)
    content = F.normalize(torch.randn(N_ITEMS, 8), dim=-1)
    return LearnModel(content, TowerConfig(input_dim=8, hidden_dim=8, n_layers=1, n_heads=2, output_dim=8,
                                           dropout=0.0, max_len=6))


@pytest.mark.parametrize("split", ["valid", "test"])
def test_history_items_are_ranked_only_when_the_history_is_not_masked(split):
    ds, model = repeat_dataset(), towers()
    masked = evaluate_towers(model, ds, split, max_len=6, mask_history=True)
    unmasked = evaluate_towers(model, ds, split, max_len=6, mask_history=False)
    assert masked.metrics["recall@10"] == 0.0 and masked.history_masked  # every target is a history item
    assert unmasked.metrics["recall@10"] == 1.0 and not unmasked.history_masked
    assert "history not masked" in unmasked.caption() and "history not masked" not in masked.caption()
    # unmasked = the target's rank among all item scores, by hand (ties pessimistic: every tie ranks above it)
    loo = LeaveOneOut.from_dataset(ds)
    model.eval()
    with torch.no_grad():
        scores = encode_histories(model.users, loo, split, 6, side="right") @ model.items().T
    targets = torch.as_tensor(ds.matrix(split).tocsr().indices)
    rank = (scores >= scores[torch.arange(len(targets)), targets][:, None]).sum(1) - 1
    assert unmasked.metrics["mrr"] == pytest.approx(float((1.0 / (rank + 1)).mean()), abs=1e-6)


@pytest.mark.parametrize("mask", [True, False])
def test_training_selects_under_the_configured_protocol(mask):
    ds, model = repeat_dataset(), towers()
    cfg = LearnTrainConfig(stage="finetune", epochs=2, batch_size=16, lr=1e-3, warmup_epochs=0, eval_every=2,
                           patience=0, seed=0, mask_history=mask)
    result = train(model, ds, cfg, max_len=6)
    assert result.history[-1]["valid_recall@10"] == (0.0 if mask else 1.0)
    assert result.history[-1]["valid_mrr"] == pytest.approx(
        evaluate_towers(model, ds, "valid", max_len=6, mask_history=mask).metrics["mrr"], abs=1e-9)


def test_the_protocol_is_40s_and_reaches_41_and_the_towers_key(tmp_path, monkeypatch):
    """41 restates no MASK_HISTORY: it finetunes and evaluates under the one of 40's record; towers selected under
    the unmasked protocol get their own folder (the masked towers keep the key they had before the option)."""
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    nb40, nb41 = notebook_defaults("40_learn_pretrain"), notebook_defaults("41_learn_finetune")
    assert nb40["MASK_HISTORY"] is True and "MASK_HISTORY" not in nb41
    run40 = {**nb40, "LLM": "tiny-random", "HIDDEN_DIM": 8, "OUTPUT_DIM": 8, "LAYERS": 1, "MASK_HISTORY": False}
    keys = {m: pretrained_key({**run40, "MASK_HISTORY": m}, content_config(run40, "cpu"), tower_config(run40, 8))
            for m in (True, False)}
    assert "mask_history" not in keys[True] and keys[False] == {**keys[True], "mask_history": False}
    save_towers(towers().tower.state_dict(), keys[False], run40, {"best_epoch": 1})
    handed = pretrained_towers(nb41["PRETRAIN_RUN"], nb41["SEED"])
    assert handed["MASK_HISTORY"] is False
    assert train_config("finetune", {**handed.params, **nb41}).mask_history is False  # 41's run.params
    assert train_config("pretrain", run40).mask_history is False


@pytest.mark.slow
def test_notebooks_40_41_headline_follows_mask_history_and_record_the_other(tmp_path, monkeypatch):
    """The smoke runs of 40 and 41 with MASK_HISTORY False: headline unmasked (the caption says so), the
    history-masked test metrics beside it, and the two differ (ML-100K's test targets include history items)."""
    from lmrec.paths import REPO_ROOT
    from lmrec.run.plan import build_plan, load_params
    from lmrec.run.runner import run_plan

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    plan = build_plan(["40_*", "41_*"], load_params([REPO_ROOT / "params" / "smoke"]),
                      {"40_learn_pretrain.MASK_HISTORY": False})
    outcomes = run_plan([r for r in plan if r.notebook.startswith(("40", "41"))], force=True)
    assert {o.run.notebook for o in outcomes} == {"40_learn_pretrain", "41_learn_finetune"}
    for outcome in outcomes:
        assert outcome.status == "done", f"{outcome.run.name}: {outcome.error}"
        record = json.loads((outcome.folder / "metrics.json").read_text())
        assert record["params"]["MASK_HISTORY"] is False and record["extra"]["mask_history"] is False
        assert "history not masked" in record["caption"]
        other = record["extra"]["test_history_masked"]
        assert set(other) == set(record["metrics"]) and other != record["metrics"]
