"""Implicit-feedback pairs independent of the candidates' order: canonical rotations, averaging, the
position prior, and the pair stage end to end over a scripted LLM with a strong position bias."""

import re

import numpy as np
import pandas as pd
import pytest

from lmrec.data import InteractionDataset, make_interactions
from lmrec.llm.chat import ChatResult, GenParams
from lmrec.llmrec.augment import augment_pairs
from lmrec.llmrec.choice import (
    candidate_orders,
    candidate_scores,
    choose_pair,
    format_scores,
    parse_scores,
    position_prior,
)
from lmrec.llmrec.parsing import AugmentParseError

K = 6
BIAS = np.array([4.0, 3.5, 0.0, -1.0, -5.0, -2.0])  # position pull, far larger than any item's own appeal


def fake_scores(order, value, interaction=0.0):
    """Deterministic position-biased scorer: item appeal + position pull (+ a pull from the item shown just
    before it, which makes the effect of an order non-additive)."""
    out = []
    for p, item in enumerate(order):
        prev = value[order[p - 1]] if p > 0 else 0.0
        out.append(value[item] + BIAS[p] + interaction * prev)
    return np.array(out)


def pick(cands, value, n_orders, prior=None, interaction=0.0):
    orders = candidate_orders(cands, n_orders)
    return choose_pair(orders, [fake_scores(o, value, interaction) for o in orders], prior)


def test_orders_are_rotations_of_the_sorted_candidates():
    orders = candidate_orders([30, 10, 20, 40], 4)
    assert orders == [(10, 20, 30, 40), (20, 30, 40, 10), (30, 40, 10, 20), (40, 10, 20, 30)]
    for p in range(4):  # a Latin square: every candidate at every position once
        assert sorted(o[p] for o in orders) == [10, 20, 30, 40]
    assert candidate_orders([30, 10, 20, 40], 2) == [(10, 20, 30, 40), (30, 40, 10, 20)]
    with pytest.raises(ValueError, match="n_orders"):
        candidate_orders([1, 2], 3)
    with pytest.raises(ValueError, match="duplicates"):
        candidate_orders([1, 1], 1)


@pytest.mark.parametrize("n_orders", [1, 2, K])
def test_permuting_the_candidates_does_not_change_the_pair(n_orders):
    rng = np.random.default_rng(0)
    cands = np.array([11, 3, 25, 7, 19, 40])
    value = {int(c): float(v) for c, v in zip(cands, rng.normal(size=K))}
    ref = pick(cands, value, n_orders, interaction=0.7)
    assert ref is not None
    for _ in range(25):
        assert pick(rng.permutation(cands), value, n_orders, interaction=0.7) == ref


def test_all_rotations_cancel_the_position_bias():
    rng = np.random.default_rng(1)
    cands = list(range(100, 100 + K))
    for _ in range(10):
        value = {c: float(v) for c, v in zip(cands, rng.normal(scale=0.5, size=K))}
        truth = (max(value, key=value.get), min(value, key=value.get))
        assert pick(cands, value, K) == truth
    # one order alone follows the positions (the bias this removes): liked at position 0, disliked at 4
    assert pick(cands, value, 1) == (cands[0], cands[4])


def test_a_prior_from_calibration_users_debiases_a_single_order():
    rng = np.random.default_rng(2)
    full = []
    for _ in range(4):  # other users, shown all rotations
        cands = rng.choice(1000, K, replace=False)
        value = {int(c): float(v) for c, v in zip(cands, rng.normal(size=K))}
        full.append(np.stack([fake_scores(o, value) for o in candidate_orders(cands, K)]))
    prior = position_prior(full)
    np.testing.assert_allclose(prior, BIAS - BIAS.mean(), atol=1e-9)
    cands = list(range(K))
    for _ in range(10):
        value = {c: float(v) for c, v in zip(cands, rng.normal(scale=0.5, size=K))}
        assert pick(cands, value, 1, prior) == (max(value, key=value.get), min(value, key=value.get))
        assert pick(cands, value, K, prior) == pick(cands, value, K)  # all rotations: the prior changes nothing


def test_candidate_scores_average_over_orders_and_skip_failed_ones():
    orders = [(1, 2, 3), (2, 3, 1), (3, 1, 2)]
    scores = [[1.0, 2.0, 3.0], None, [6.0, 4.0, 5.0]]
    assert candidate_scores(orders, scores) == {1: 2.5, 2: 3.5, 3: 4.5}
    assert candidate_scores(orders, scores, np.array([1.0, 0.0, -1.0])) == {1: 2.0, 2: 4.0, 3: 4.5}
    assert choose_pair(orders, [None, None, None]) is None
    assert choose_pair(orders, [[1.0, 1.0, 1.0]] * 3) is None  # no preference at all: no pair


def test_scores_text_round_trip_and_bad_answers():
    np.testing.assert_allclose(parse_scores(format_scores([-0.5, -1.25]), 2), [-0.5, -1.25])
    with pytest.raises(AugmentParseError):
        parse_scores("-0.5", 2)
    with pytest.raises(AugmentParseError):
        parse_scores("a b", 2)


def toy_dataset(n_users=4, n_items=12):
    items = pd.DataFrame({"title": [f"Movie {i}" for i in range(n_items)], "year": ["1990"] * n_items,
                          "genres": ["Drama"] * n_items})
    u = np.repeat(np.arange(n_users), 2)
    i = np.tile([10, 11], n_users)
    s = np.array(["train", "test"] * n_users, dtype=object)
    inter = make_interactions(u, i, s, timestamp=np.arange(len(u), dtype=float))
    return InteractionDataset("toy", inter, n_users, n_items, np.arange(n_users).astype(str),
                              np.arange(n_items).astype(str), item_text=items)


class BiasedScorer:
    """An LLM stand-in answering label scores: the shown movie's appeal + a strong pull of its list position."""

    kind, supports_prefill, model = "local", True, "biased"

    def __init__(self, value):
        self.value = value

    def cache_identity(self):
        return {"backend": "biased"}

    def generate(self, requests, gen, on_result):
        for i, r in enumerate(requests):
            shown = [int(m) for m in re.findall(r"^\[\d\] Movie (\d+)", r.messages[0]["content"], re.M)]
            on_result(i, ChatResult(text=format_scores(fake_scores(shown, self.value))))


def test_pair_stage_is_order_invariant_and_debiased_end_to_end():
    ds = toy_dataset()
    rng = np.random.default_rng(3)
    value = {i: float(v) for i, v in enumerate(rng.normal(scale=0.5, size=12))}
    cands = np.stack([rng.permutation(10)[:K] for _ in range(ds.n_users)])
    users = np.arange(ds.n_users)
    truth = [(max(c, key=value.get), min(c, key=value.get)) for c in cands.tolist()]
    for n_orders, cal in ((K, 0), (1, 2)):
        a = augment_pairs(BiasedScorer(value), ds, cands, users, GenParams(), n_orders=n_orders,
                          calibration_users=cal, answer="scores", progress=False)
        b = augment_pairs(BiasedScorer(value), ds, cands[:, ::-1], users, GenParams(), n_orders=n_orders,
                          calibration_users=cal, answer="scores", progress=False)
        assert list(zip(a.pos.tolist(), a.neg.tolist())) == truth
        assert a.pos.tolist() == b.pos.tolist() and a.neg.tolist() == b.neg.tolist()
    assert len(a.calibration) == 2 and [len(o) for o in a.orders] == [K, 1, 1, K]
    np.testing.assert_allclose(a.prior, BIAS - BIAS.mean(), atol=1e-3)
    plain = augment_pairs(BiasedScorer(value), ds, cands, users, GenParams(), n_orders=1, answer="scores",
                          progress=False)
    assert list(zip(plain.pos.tolist(), plain.neg.tolist())) != truth  # one order, no prior: the bias wins


def test_an_answer_that_only_follows_positions_gives_no_pair():
    """'1::4' whatever is shown: over all rotations every candidate is liked once and disliked once."""
    from tests.llmrec.test_augment import ScriptedChat

    ds = toy_dataset()
    cands = np.stack([np.arange(K)] * ds.n_users)
    out = augment_pairs(ScriptedChat(lambda r, g: "1::4"), ds, cands, np.arange(ds.n_users), GenParams(),
                        n_orders=K, answer="pair", progress=False)
    assert (out.pos == -1).all() and out.summary()["pairs_users_failed"] == ds.n_users
