"""A tiny end-to-end run (pretraining, finetuning, evaluation) that must learn a planted cluster signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.cllm4rec import (
    CLLM4RecTrainer,
    FinetuneConfig,
    PretrainConfig,
    build_model,
    load_tables,
    save_tables,
    take_over_tables,
)
from lmrec.data import InteractionDataset, make_interactions
from lmrec.eval import Protocol
from lmrec.train import make_accelerator

ALL_DOCS = {"max_content_tokens": 32, "content_docs_per_epoch": 0}  # every content document, whole, each epoch


def planted_dataset(n_users: int = 24, n_items: int = 12, seed: int = 0) -> InteractionDataset:
    """Two clusters: users of the first half only use items of the first half, the rest the second half."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    rows = []
    for u in range(n_users):
        group = np.arange(half) if u < n_users // 2 else np.arange(half, n_items)
        items = rng.permutation(group)
        for k, i in enumerate(items):
            rows.append((u, i, "train" if k < half - 2 else ("valid" if k == half - 2 else "test")))
    u, i, s = map(np.array, zip(*rows))
    inter = make_interactions(u, i, s, timestamp=np.arange(len(u), dtype=float))
    return InteractionDataset("planted", inter, n_users, n_items, np.arange(n_users).astype(str),
                              np.arange(n_items).astype(str))


@pytest.mark.slow
def test_tiny_run_learns_planted_clusters(base_tokenizer, make_lm, tmp_path, monkeypatch):
    torch.manual_seed(0)
    ds = planted_dataset()
    model, tok = build_model(make_lm(len(base_tokenizer), hidden=16), base_tokenizer, ds.n_users, ds.n_items)
    docs = [(f"item_{i} is described as:", "great fun" if i < 6 else "too long") for i in range(ds.n_items)]
    trainer = CLLM4RecTrainer(model, tok, make_accelerator("cpu", find_unused_parameters=True))
    items = ds.sequences("train")
    protocol = Protocol(ks=(2, 4), recall_denominator="min_k")
    before = trainer.evaluate(ds, "test", items, 8, protocol).metrics["recall@2"]

    trainer.pretrain(items, docs, PretrainConfig(rounds=10, lr=5e-2, batch_size=8, max_items=8, lambda_v=0.1, seed=0, **ALL_DOCS))
    collab = [h["loss"] for h in trainer.history if h["task"] == "collab"]
    assert collab[-1] < collab[0]  # the collaborative LM learns
    state, best = trainer.finetune(items, docs, FinetuneConfig(epochs=40, lr=5e-2, content_lr=5e-2, batch_size=8,
                                                               max_items=8, lambda_v=0.1, seed=0, targets="masked",
                                                               patience=0, **ALL_DOCS),
                                   ds, Protocol(ks=(20, 40, 100), recall_denominator="min_k"))
    assert 1 <= best["epoch"] <= 40 and set(state) == {f"{t}.{k}.weight" for t in ("collab", "content")
                                                     for k in ("user", "item")}
    model.load_trainable_state(state)
    after = trainer.evaluate(ds, "test", items, 8, protocol).metrics["recall@2"]
    # 8 unmasked candidates, 2 of them in the user's cluster: chance recall@2 is about 0.25
    assert after > 0.8 > before + 0.3

    # the tables handed on round-trip and reproduce the scores
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    save_tables("finetune", state, {"SEED": 0, "DATASET": "planted"}, {"best": best["epoch"]})
    fresh, _ = build_model(make_lm(len(base_tokenizer), hidden=16), base_tokenizer, ds.n_users, ds.n_items)
    fresh.load_trainable_state(load_tables(take_over_tables("finetune", "auto", 0)))
    again = CLLM4RecTrainer(fresh, tok, make_accelerator("cpu", find_unused_parameters=True)).evaluate(ds, "test", items, 8, protocol)
    assert again.metrics["recall@2"] == after


def test_finetuning_with_patience_resumes_after_an_interruption_to_the_same_tables(base_tokenizer, make_lm, tmp_path):
    from lmrec.utils import use_deterministic_kernels

    use_deterministic_kernels(True)
    ds = planted_dataset()
    items = ds.sequences("train")
    docs = [(f"item_{i} is described as:", "great fun" if i < 6 else "too long") for i in range(ds.n_items)]
    cfg = FinetuneConfig(epochs=8, lr=5e-2, content_lr=5e-2, batch_size=8, max_items=8, lambda_v=0.1, seed=0,
                         eval_every=2, patience=2, targets="masked", **ALL_DOCS)

    def run(ckpt=None, stop_at=None):
        torch.manual_seed(0)
        model, tok = build_model(make_lm(len(base_tokenizer), hidden=16), base_tokenizer, ds.n_users, ds.n_items)

        def log(rec):
            if rec.get("epoch") == stop_at and "valid_recall@20" in rec:
                raise KeyboardInterrupt

        trainer = CLLM4RecTrainer(model, tok, make_accelerator("cpu", find_unused_parameters=True), log=log)
        state, best = trainer.finetune(items, docs, cfg, ds, checkpoint_dir=ckpt)
        return state, best, trainer

    ref_state, ref_best, ref = run()
    vals = [h["valid_recall@20+recall@40+ndcg@100"] for h in ref.fit_result.history if "valid_recall@20" in h]
    assert ref_best["score"] == max(vals) and ref.fit_result.best_epoch == ref_best["epoch"]
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, stop_at=3)  # the validation of epoch 4 (logged 0-based) is interrupted
    state, best, again = run(tmp_path)
    assert again.fit_result.resumed_from == 3
    assert best["epoch"] == ref_best["epoch"] and all(torch.equal(state[k], ref_state[k]) for k in ref_state)
    assert [h["loss"] for h in again.history] == [h["loss"] for h in ref.history]


def test_content_warm_up_trains_without_the_regulariser_and_the_rounds_with_it(base_tokenizer, make_lm, monkeypatch):
    """As released: content tables are warmed up on text alone (lambda 0), then each round couples the collaborative
    and content tables with ``lambda_v``."""
    torch.manual_seed(0)
    ds = planted_dataset()
    model, tok = build_model(make_lm(len(base_tokenizer), hidden=16), base_tokenizer, ds.n_users, ds.n_items)
    docs = [(f"item_{i} is described as:", "great fun") for i in range(ds.n_items)]
    trainer = CLLM4RecTrainer(model, tok, make_accelerator("cpu", find_unused_parameters=True))
    seen = []
    real_pass = trainer._pass

    def spy(opt, task, batches, lambda_v, *args):
        seen.append((args[-1]["stage"], task, lambda_v))
        return real_pass(opt, task, batches, lambda_v, *args)

    monkeypatch.setattr(trainer, "_pass", spy)
    trainer.pretrain(ds.sequences("train"), docs, PretrainConfig(rounds=1, content_warmup_epochs=2, lr=1e-2,
                                                                 batch_size=8, max_items=8, lambda_v=0.3, seed=0,
                                                                 **ALL_DOCS))
    assert seen == [("warmup", "content", 0.0), ("warmup", "content", 0.0),
                    ("pretrain", "collab", 0.3), ("pretrain", "content", 0.3)]
