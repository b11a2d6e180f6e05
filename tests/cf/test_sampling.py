"""Device negative sampler: never a training item, uniform over the rest."""

import pytest
import torch

from lmrec.train.sampling import NegativeSampler


def test_negatives_avoid_training_items_and_cover_the_rest():
    torch.manual_seed(0)
    # user 0 has items 0..7 of 10, user 1 has item 0: the last item is a valid negative for both
    users = torch.tensor([0] * 8 + [1])
    items = torch.tensor(list(range(8)) + [0])
    s = NegativeSampler(users, items, 10)
    q = torch.tensor([0] * 4000 + [1] * 4000)
    neg = s.sample(q)
    assert not s.is_positive(q, neg).any()
    assert set(neg[:4000].tolist()) == {8, 9}
    counts = torch.bincount(neg[4000:], minlength=10)[1:].float()
    assert counts.min() > 0.7 * counts.mean()  # uniform over the 9 allowed items 1..9, the last one included


def test_user_with_every_item_is_an_error():
    with pytest.raises(ValueError, match="every item"):
        NegativeSampler(torch.tensor([0, 0]), torch.tensor([0, 1]), 2)


def test_an_epoch_pairs_each_training_interaction_with_a_negative_of_its_own_user():
    """``train_epoch`` shuffles the training pairs; every batch must pair each (user, positive) with a negative
    drawn for that same user (never one of that user's training items), and cover each pair once."""
    import numpy as np

    from lmrec.cf import BackboneConfig, CFModel, Graph, NoAlignment, build_backbone
    from lmrec.cf.trainer import train_epoch

    from .cf_planted import planted_dataset

    torch.manual_seed(0)
    ds = planted_dataset(n_users=30, n_items=24, per_user=10)
    g = Graph(ds.train)
    model = CFModel(build_backbone("lightgcn", g, BackboneConfig(dim=4, layers=1)), NoAlignment(), reg_weight=0.0)
    batches = []
    real_loss = model.loss

    def spy(batch):
        batches.append(batch)
        return real_loss(batch)

    model.loss = spy
    users, items = g.train_users, g.train_items
    sampler = NegativeSampler(users, items, g.n_items)
    train_epoch(model, torch.optim.SGD(model.parameters(), lr=0.0), sampler, users, items, batch_size=16, epoch=0)
    u = torch.cat([b.users for b in batches])
    pos = torch.cat([b.pos for b in batches])
    neg = torch.cat([b.neg for b in batches])
    train = {(int(a), int(b)) for a, b in zip(users, items)}
    assert sorted(zip(u.tolist(), pos.tolist())) == sorted(train)  # each training pair once, as its own pair
    assert not any((a, b) in train for a, b in zip(u.tolist(), neg.tolist()))
    assert not np.array_equal(u.numpy(), users.numpy())  # the pairs were shuffled
