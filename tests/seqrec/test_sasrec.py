"""SASRec: training windows, causality, padding, the two losses against their formulas, and learning."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrec.seqrec.sasrec import (
    SASRec,
    SASRecConfig,
    evaluate_sasrec,
    sasrec_loss,
    train_sasrec,
    training_windows,
)

from ..learn.test_end_to_end import planted_dataset


def small_model(n_items: int = 10, **kw) -> SASRec:
    torch.manual_seed(0)
    cfg = dict(hidden_dim=8, n_blocks=2, n_heads=2, dropout=0.0, max_len=4)
    cfg.update(kw)
    return SASRec(n_items, SASRecConfig(**cfg)).eval()


def test_training_windows_shift_by_one_and_pad_left():
    users, inputs, targets = training_windows([np.array([5, 6, 7]), np.array([1]), np.array([0, 1, 2, 3, 4, 5])], 3)
    assert users.tolist() == [0, 2]  # user 1 has a single item: nothing to predict
    assert inputs.tolist() == [[-1, 5, 6], [2, 3, 4]]
    assert targets.tolist() == [[-1, 6, 7], [3, 4, 5]]


def test_states_are_causal_and_ignore_padding_keys():
    model = small_model()
    base = torch.tensor([[0, 3, 4, 5]])
    changed = torch.tensor([[0, 3, 4, 9]])
    h1, h2 = model(base), model(changed)
    assert torch.allclose(h1[:, :3], h2[:, :3], atol=1e-6) and not torch.allclose(h1[:, 3], h2[:, 3])
    # what a padding position would hold never reaches a real one: padding keys are masked
    assert torch.isfinite(model(torch.zeros(1, 4, dtype=torch.long))).all()
    ids, mask = torch.tensor([[0, 2, 3, 4]]), torch.tensor([[False, True, True, True]])
    assert torch.allclose(model.user_vectors(ids, mask), model(torch.tensor([[0, 3, 4, 5]]))[:, -1], atol=1e-6)


def test_attention_mask_hides_later_positions_and_padding_keys_per_head():
    """Left-padded row [pad, a, b]: a sees itself, b sees a and itself, the padding query only itself (so its
    ignored state stays finite); the same mask for each of the 2 heads. True = may not look."""
    mask = small_model()._attn_mask(torch.tensor([[False, True, True]]))
    allowed = torch.tensor([[True, False, False], [False, True, False], [False, True, True]])
    assert mask.shape == (2, 3, 3) and torch.equal(mask[0], ~allowed) and torch.equal(mask[1], ~allowed)


def test_block_input_is_scaled_item_embedding_plus_position_on_real_slots():
    """The paper's input layer: E_item * sqrt(d) + P, zero on padding slots (seen by the first block)."""
    import math

    model = small_model(hidden_dim=8, n_heads=2)
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    tokens = torch.tensor([[0, 3, 5, 2], [0, 0, 7, 1]])  # 0 = padding (item ids are shifted by one)
    model(tokens)
    real = (tokens > 0)[..., None]
    want = (model.item_emb(tokens) * math.sqrt(8) + model.pos_emb(torch.arange(4))[None]) * real
    torch.testing.assert_close(seen[0], want)


def test_losses_match_their_formulas():
    model = small_model()
    inputs = torch.tensor([[-1, 2, 3, 4], [1, 2, 3, 4]])
    targets = torch.tensor([[-1, 3, 4, 0], [2, 3, 4, 5]])  # item 0 is a real target; -1 pads
    negatives = torch.tensor([[0, 7, 8, 9], [6, 7, 8, 9]])
    h = model((inputs + 1).clamp(min=0))
    table = model.item_emb.weight[1:]
    rows = [(b, t) for b in range(2) for t in range(4) if targets[b, t] >= 0]
    ce = np.mean([-F.log_softmax(h[b, t] @ table.T, -1)[targets[b, t]].item() for b, t in rows])
    bce = np.mean([-(F.logsigmoid(h[b, t] @ table[targets[b, t]]) + F.logsigmoid(-(h[b, t] @ table[negatives[b, t]]))).item()
                   for b, t in rows])
    assert sasrec_loss(model, inputs, targets).item() == pytest.approx(ce, rel=1e-5)
    assert sasrec_loss(model, inputs, targets, negatives).item() == pytest.approx(bce, rel=1e-5)


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_learns_planted_transitions(loss):
    ds = planted_dataset()  # every user walks i -> i+1 (mod 40)
    torch.manual_seed(0)
    model = SASRec(ds.n_items, SASRecConfig(hidden_dim=32, n_blocks=1, n_heads=1, dropout=0.0, max_len=6, loss=loss,
                                            epochs=60, batch_size=32, lr=5e-3, eval_every=10, patience=0))
    before = evaluate_sasrec(model, ds, "valid").metrics["mrr"]
    result = train_sasrec(model, ds, model.config)
    valid, test = evaluate_sasrec(model, ds, "valid").metrics, evaluate_sasrec(model, ds, "test").metrics
    assert before < 0.2 and valid["mrr"] > 0.8 and test["recall@10"] > 0.9
    assert valid["ndcg@10"] == pytest.approx(result.best_metric)  # left in its best state
    assert result.steps == 60 * 4 and len(result.history) == 60


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="loss"):
        SASRecConfig(loss="bpr")
    with pytest.raises(ValueError, match="n_heads"):
        SASRecConfig(hidden_dim=10, n_heads=3)
    with pytest.raises(ValueError, match="max_len"):
        small_model()(torch.ones(1, 5, dtype=torch.long))


def test_bce_negatives_are_drawn_for_each_windows_own_user(monkeypatch):
    """Users with fewer than two training items give no window, so window index != user id; each window's
    negatives must avoid the training items of the user the window belongs to."""
    import lmrec.seqrec.sasrec as sasrec_mod
    from lmrec.data import InteractionDataset, make_interactions

    users, items, splits = [], [], []
    for u in range(11):  # users 0-2: one training item (no window); users 3-10: 8 training items of a block
        block = [40 + u] if u < 3 else list(range(5 * (u - 3), 5 * (u - 3) + 5))
        seq = block + [50 + u, 50 + u + 11]  # then a valid and a test item of its own
        users += [u] * len(seq)
        items += seq
        splits += ["train"] * (len(seq) - 2) + ["valid", "test"]
    ds = InteractionDataset("blocks", make_interactions(np.array(users), np.array(items), np.array(splits, dtype=object),
                                                        timestamp=np.arange(len(users), dtype=float)),
                            11, 72, np.arange(11).astype(str).astype(object), np.arange(72).astype(str).astype(object),
                            split_protocol="loo_time")
    seen = []
    real_loss = sasrec_mod.sasrec_loss

    def spy(model, inputs, targets, negatives=None):
        seen.append((inputs.clone(), targets.clone(), negatives.clone()))
        return real_loss(model, inputs, targets, negatives)

    monkeypatch.setattr(sasrec_mod, "sasrec_loss", spy)
    torch.manual_seed(0)
    model = SASRec(ds.n_items, SASRecConfig(hidden_dim=8, n_blocks=1, n_heads=1, dropout=0.0, max_len=4, loss="bce",
                                            epochs=3, batch_size=4, eval_every=3, patience=0))
    train_sasrec(model, ds, model.config)
    train_sets = {u: set(np.asarray(items)[(np.asarray(users) == u) & (np.asarray(splits) == "train")].tolist())
                  for u in range(11)}
    rows = 0
    for inputs, targets, negatives in seen:
        for inp, tgt, neg in zip(inputs, targets, negatives):
            own = {int(i) for i in torch.cat([inp, tgt]) if i >= 0}
            user = next(u for u, s in train_sets.items() if own <= s)
            assert not set(neg.tolist()) & train_sets[user], (user, neg.tolist())
            rows += 1
    assert rows == 3 * 8


@pytest.mark.parametrize("mask_history", [True, False])
def test_validation_follows_the_configured_history_protocol(monkeypatch, mask_history):
    """Model selection ranks under the protocol of the headline: unmasked (Recformer's Ranker) or masked."""
    import lmrec.seqrec.sasrec as sasrec_mod

    seen = []
    real = sasrec_mod.evaluate_encoder

    def spy(*args, **kwargs):
        seen.append(kwargs.get("mask_history", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(sasrec_mod, "evaluate_encoder", spy)
    ds = planted_dataset()
    model = SASRec(ds.n_items, SASRecConfig(hidden_dim=8, n_blocks=1, max_len=6, epochs=2, eval_every=1, patience=0,
                                            mask_history=mask_history))
    train_sasrec(model, ds, model.config)
    assert seen == [mask_history, mask_history]
    evaluate_sasrec(model, ds, "test", mask_history=not mask_history)
    assert seen[-1] is (not mask_history)
