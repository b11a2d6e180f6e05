"""One tie rule for every metric: a target ranks after every item with the same score (pessimistic)."""

from __future__ import annotations

import pytest
import torch

from lmrec.eval.ranking import pessimistic_scores, rank_metrics


def _targets(n_items: int, rows: list[list[int]]) -> torch.Tensor:
    t = torch.zeros(len(rows), n_items, dtype=torch.bool)
    for r, items in enumerate(rows):
        t[r, items] = True
    return t


def test_a_constant_scorer_earns_nothing_at_the_top_and_the_last_rank_in_mrr():
    scores = torch.zeros(1, 5)
    m = rank_metrics(scores, _targets(5, [[2]]), ks=(1, 4, 5))
    # the target ranks after the four other items: position 5
    assert m["mrr"].item() == pytest.approx(1 / 5)
    assert m["recall@1"].item() == 0 and m["hit@4"].item() == 0 and m["hit@5"].item() == 1
    assert m["ndcg@5"].item() == pytest.approx(1 / torch.log2(torch.tensor(6.0)).item())


def test_ties_between_a_target_and_other_items_follow_the_same_rule_in_every_metric():
    # item 0 scores highest; the target (item 3) ties with items 1 and 2: pessimistic position 4
    scores = torch.tensor([[0.9, 0.5, 0.5, 0.5, 0.1]])
    m = rank_metrics(scores, _targets(5, [[3]]), ks=(3, 4))
    assert m["mrr"].item() == pytest.approx(1 / 4)
    assert m["hit@3"].item() == 0 and m["hit@4"].item() == 1
    assert m["ndcg@4"].item() == pytest.approx(1 / torch.log2(torch.tensor(5.0)).item())
    # two tied targets take the last two places of their tie, in either order
    m = rank_metrics(scores, _targets(5, [[1, 3]]), ks=(3, 4))
    assert m["mrr"].item() == pytest.approx(1 / 3) and m["recall@3"].item() == 0.5 and m["recall@4"].item() == 1


def test_the_shift_keeps_every_strict_order_and_masked_items():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 200, generator=gen)
    scores[:, :10] = torch.nextafter(scores[:, 10:20], torch.full((4, 10), torch.inf))  # neighbours one ulp apart
    scores[0, 5] = -torch.inf
    targets = torch.rand(4, 200, generator=gen) < 0.3
    shifted = pessimistic_scores(scores, targets)
    order = scores.double()
    assert torch.equal(shifted.argsort(dim=1, stable=True), order.argsort(dim=1, stable=True))
    assert shifted[0, 5] == -torch.inf and not shifted.isnan().any()
