"""Device negative sampler: never a training item, uniform over the rest."""

import pytest
import torch

from lmrec.cf.sampling import NegativeSampler


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
