"""LEARN towers, example cutting and the two training losses."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrec.learn import LearnModel, TowerConfig
from lmrec.learn.train import (
    LearnTrainConfig,
    SequenceTable,
    draw_cuts,
    finetune_loss,
    history_exclusion,
    pretrain_loss,
    trainable_users,
)


def make_model(n_items=12, dim=8, **kw):
    torch.manual_seed(0)
    cfg = TowerConfig(input_dim=dim, hidden_dim=16, n_layers=2, n_heads=2, output_dim=6, dropout=0.0, max_len=5, **kw)
    return LearnModel(F.normalize(torch.randn(n_items, dim), dim=-1), cfg).eval()


def test_tower_shapes_and_normalisation():
    model = make_model()
    ids = torch.tensor([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]])
    mask = ids > 0
    users = model.users(ids, mask)
    items = model.items()
    assert users.shape == (2, 6) and items.shape == (12, 6)
    torch.testing.assert_close(users.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(items.norm(dim=-1), torch.ones(12))
    u, i = model(ids, mask, torch.tensor([5, 6]))
    assert i.shape == (2, 6)
    torch.testing.assert_close(i, items[[5, 6]])


def test_user_vector_reads_last_real_position_causally():
    model = make_model()
    ids = torch.tensor([[1, 2, 3, 0, 0]])
    base = model.users(ids, ids > 0)
    # padding content does not matter, and neither would later items under the causal mask
    torch.testing.assert_close(model.users(torch.tensor([[1, 2, 3, 7, 9]]), ids > 0), base)
    full_mask = torch.ones(1, 5, dtype=torch.bool)
    out = model.tower(model.lookup(torch.tensor([[1, 2, 3, 7, 9]]), full_mask), full_mask)
    torch.testing.assert_close(out[:, 2], base)
    # a single item read by the user tower equals the item tower's vector (same network, length 1)
    torch.testing.assert_close(model.users(torch.tensor([[4, 0, 0, 0, 0]]), torch.tensor([[True] + [False] * 4])),
                               model.items(torch.tensor([4])))
    # order matters through the causal mask
    assert not torch.allclose(model.users(torch.tensor([[3, 2, 1, 0, 0]]), ids > 0), base)


def test_empty_history_gives_finite_vector():
    model = make_model()
    out = model.users(torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 5, dtype=torch.bool))
    assert torch.isfinite(out).all()


def test_sequence_table_cut_right_padded_last_items():
    table = SequenceTable([np.array([10, 11, 12, 13, 14, 15]), np.array([20, 21])], torch.device("cpu"))
    ids, mask, target = table.cut(torch.tensor([0, 0, 1]), torch.tensor([5, 2, 1]), max_len=3)
    assert ids.tolist() == [[12, 13, 14], [10, 11, 0], [20, 0, 0]]
    assert mask.tolist() == [[True] * 3, [True, True, False], [True, False, False]]
    assert target.tolist() == [15, 12, 21]


def test_draw_cuts_ranges():
    lengths = torch.tensor([10, 2, 7])
    users = torch.tensor([0, 1, 2] * 200)
    g = torch.Generator().manual_seed(0)
    t = draw_cuts(lengths, users, second_half=True, generator=g)
    n = lengths[users]
    assert (t >= torch.clamp(n // 2, min=1)).all() and (t <= n - 1).all()
    assert t[users == 0].unique().tolist() == [5, 6, 7, 8, 9]
    t = draw_cuts(lengths, users, second_half=False, generator=g)
    assert t[users == 0].unique().tolist() == list(range(1, 10))


def test_only_users_with_a_history_and_a_target_are_trained():
    assert trainable_users(torch.tensor([0, 1, 2, 5])).tolist() == [2, 3]


def test_cut_range_follows_the_stage_unless_set():
    """auto: pretraining cuts in the second half, finetuning anywhere; an explicit choice wins for both."""
    run = {"epochs": 1, "lr": 1e-3, "warmup_epochs": 0, "mask_history": True}
    assert LearnTrainConfig(stage="pretrain", **run).second_half_cuts
    assert not LearnTrainConfig(stage="finetune", **run).second_half_cuts
    assert LearnTrainConfig(stage="finetune", cut_from="second_half", **run).second_half_cuts
    assert not LearnTrainConfig(stage="pretrain", cut_from="any", **run).second_half_cuts


def test_history_exclusion():
    ids = torch.tensor([[1, 3, 0], [2, 0, 0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert history_exclusion(ids, mask, 4).tolist() == [[False, True, False, True], [False, False, True, False]]


def test_finetune_loss_is_full_softmax_with_history_masked():
    model = make_model()
    ids = torch.tensor([[1, 2, 0, 0, 0]])
    mask = ids > 0
    target = torch.tensor([2])  # the target also occurs in the history: it must stay a valid class
    users, items = model.users(ids, mask), model.items()
    logits = 20 * users @ items.T
    logits[0, 1] = float("-inf")
    expected = F.cross_entropy(logits, target)
    torch.testing.assert_close(finetune_loss(model, ids, mask, target, 20.0, True), expected)
    plain = F.cross_entropy(20 * users @ items.T, target)
    torch.testing.assert_close(finetune_loss(model, ids, mask, target, 20.0, False), plain)


def test_pretrain_loss_duplicate_targets_masked():
    model = make_model()
    ids = torch.tensor([[1, 2, 0, 0, 0], [3, 0, 0, 0, 0], [4, 5, 6, 0, 0]])
    mask = ids > 0
    target = torch.tensor([7, 8, 7])
    users, items = model.users(ids, mask), model.items(target)
    logits = 20 * users @ items.T
    logits[0, 2] = logits[2, 0] = float("-inf")
    expected = F.cross_entropy(logits, torch.arange(3))
    torch.testing.assert_close(pretrain_loss(model, ids, mask, target, 20.0), expected)


def test_content_dimension_checked():
    with pytest.raises(ValueError, match="input_dim"):
        LearnModel(torch.randn(3, 5), TowerConfig(input_dim=4))
