"""A tiny end-to-end LEARN run learns planted sequences (each user walks i -> i+1 through the catalogue)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrec.data import InteractionDataset, make_interactions
from lmrec.learn import LearnModel, LearnTrainConfig, TowerConfig, evaluate_towers, train


def planted_dataset(n_items=40, n_users=120, length=8, seed=0) -> InteractionDataset:
    rng = np.random.default_rng(seed)
    users, items, splits, times = [], [], [], []
    for u in range(n_users):
        start = rng.integers(n_items)
        seq = (start + np.arange(length)) % n_items
        users += [u] * length
        items += seq.tolist()
        splits += ["train"] * (length - 2) + ["valid", "test"]
        times += list(range(length))
    inter = make_interactions(np.array(users), np.array(items), np.array(splits, dtype=object), timestamp=np.array(times, float))
    return InteractionDataset(name="planted", interactions=inter, n_users=n_users, n_items=n_items,
                              user_ids=np.arange(n_users).astype(str).astype(object),
                              item_ids=np.arange(n_items).astype(str).astype(object), split_protocol="loo_time")


def test_pretrain_then_finetune_learns_planted_transitions():
    ds = planted_dataset()
    torch.manual_seed(0)
    content = F.normalize(torch.randn(ds.n_items, 16), dim=-1)  # random, distinct "LLM" vectors
    model = LearnModel(content, TowerConfig(input_dim=16, hidden_dim=32, n_layers=1, n_heads=2, output_dim=32,
                                            dropout=0.0, max_len=6))
    before = evaluate_towers(model, ds, "valid", max_len=6, mask_history=True).metrics["mrr"]
    pre = train(model, ds, LearnTrainConfig(stage="pretrain", epochs=40, batch_size=32, lr=3e-3, samples_per_user=2,
                                       eval_every=10, patience=0, seed=0, warmup_epochs=1.0, mask_history=True), max_len=6)
    after_pre = evaluate_towers(model, ds, "valid", max_len=6, mask_history=True).metrics["mrr"]
    ft = train(model, ds, LearnTrainConfig(stage="finetune", epochs=20, batch_size=32, lr=2e-3, samples_per_user=2,
                                      eval_every=10, patience=0, seed=0, warmup_epochs=1.0, mask_history=True), max_len=6)
    test = evaluate_towers(model, ds, "test", max_len=6, mask_history=True).metrics
    assert before < 0.3
    assert after_pre > 0.6 and pre.best_metric > 0.3
    assert test["mrr"] > 0.8 and test["hit@10"] > 0.95
    assert ft.best_epoch in (10, 20) and len(ft.history) == 20
    assert ft.history[-1]["loss"] < ft.history[0]["loss"]


def test_an_interrupted_stage_resumes_to_the_uninterrupted_numbers(tmp_path):
    import pytest

    from lmrec.utils import use_deterministic_kernels

    use_deterministic_kernels(True)
    ds = planted_dataset(n_users=40)
    cfg = LearnTrainConfig(stage="pretrain", epochs=6, batch_size=16, lr=3e-3, samples_per_user=2, eval_every=2,
                      patience=0, seed=0, warmup_epochs=1.0, mask_history=True)

    def run(ckpt=None, stop_at=None):
        torch.manual_seed(0)
        content = F.normalize(torch.randn(ds.n_items, 16), dim=-1)
        model = LearnModel(content, TowerConfig(input_dim=16, hidden_dim=16, n_layers=1, n_heads=2, output_dim=16,
                                                dropout=0.1, max_len=6))

        def interrupt(row):
            if row["epoch"] == stop_at:
                raise KeyboardInterrupt

        res = train(model, ds, cfg, max_len=6, on_eval=interrupt, checkpoint_dir=ckpt)
        return res, torch.cat([p.detach().flatten() for p in model.parameters()])

    ref, ref_weights = run()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, stop_at=5)  # after the checkpoint of epoch 4
    res, weights = run(tmp_path)
    assert [h["loss"] for h in res.history] == [h["loss"] for h in ref.history]
    assert torch.equal(weights, ref_weights) and res.best_epoch == ref.best_epoch


def test_learning_rate_warms_up_over_warmup_epochs_then_follows_the_cosine():
    """lr(step s) = lr * min(1, (s + 1) / W) * (1 + cos(pi * s / T)) / 2 with W = warmup_epochs x steps per
    epoch and T all steps; the history's ``lr`` is the rate after each epoch's last step."""
    import math

    ds = planted_dataset(n_users=40)
    torch.manual_seed(0)
    content = F.normalize(torch.randn(ds.n_items, 8), dim=-1)
    model = LearnModel(content, TowerConfig(input_dim=8, hidden_dim=8, n_layers=1, n_heads=2, output_dim=8,
                                            dropout=0.0, max_len=6))
    cfg = LearnTrainConfig(stage="pretrain", epochs=4, batch_size=16, lr=1e-3, samples_per_user=2, eval_every=4,
                           patience=0, seed=0, warmup_epochs=2.0, mask_history=True)
    res = train(model, ds, cfg, max_len=6)
    per_epoch = res.steps // res.epochs_run
    assert per_epoch > 1
    warmup, total = 2 * per_epoch, 4 * per_epoch
    for row in res.history:
        s = row["epoch"] * per_epoch  # steps taken so far = the scheduler's step count
        want = 1e-3 * min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
        assert row["lr"] == pytest.approx(want, rel=1e-6), row["epoch"]


def test_evaluation_runs_in_eval_mode_and_restores_the_training_mode():
    """Metrics of a model with dropout are computed without it (the same numbers as in eval mode, every call),
    and a model that was training is training again afterwards."""
    ds = planted_dataset(n_users=40)
    torch.manual_seed(0)
    content = F.normalize(torch.randn(ds.n_items, 8), dim=-1)
    model = LearnModel(content, TowerConfig(input_dim=8, hidden_dim=16, n_layers=1, n_heads=2, output_dim=8,
                                            dropout=0.5, max_len=6))
    model.eval()
    reference = evaluate_towers(model, ds, "valid", max_len=6, mask_history=True).metrics
    model.train()
    for _ in range(2):
        assert evaluate_towers(model, ds, "valid", max_len=6, mask_history=True).metrics == reference
        assert model.training
