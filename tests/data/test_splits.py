"""Split protocols: determinism under a seed, RLMRec's 3:1:1 with full training coverage, per-user
80/10/10 with max(1, floor(0.1 n)), leave-one-out by time; rating threshold and k-core filtering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data.splits import apply_split, k_core, split_leave_one_out, split_rlmrec, split_user_ratio


def random_ratings(n_users=120, n_items=80, per_user=(3, 60), seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        n = rng.integers(*per_user)
        items = rng.choice(n_items, size=n, replace=False)
        for i, t in zip(items, rng.permutation(n)):
            rows.append((u, int(i), float(rng.integers(1, 6)), float(1000 + t)))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


@pytest.mark.parametrize("protocol", ["rlmrec", "user_80_10_10", "loo_time"])
def test_same_seed_same_split(protocol):
    frame = random_ratings()
    a = apply_split(frame, protocol, seed=7)
    b = apply_split(frame, protocol, seed=7)
    pd.testing.assert_frame_equal(a, b)
    if protocol != "loo_time":  # leave-one-out by time has no randomness
        assert not apply_split(frame, protocol, seed=8)["split"].equals(a["split"])


def test_rlmrec_split_is_3_1_1_and_covers_every_user_and_item():
    frame = random_ratings(n_users=300, n_items=200, per_user=(5, 60))
    out = split_rlmrec(frame, seed=2023)
    shares = out["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.02)
    assert shares["valid"] == pytest.approx(0.2, abs=0.02) and shares["test"] == pytest.approx(0.2, abs=0.02)
    train = out[out["split"] == "train"]
    assert set(train["user"]) == set(frame["user"]) and set(train["item"]) == set(frame["item"])
    assert len(out) == len(frame)


def test_rlmrec_split_repairs_long_tail_items_into_training():
    # 40 items seen once each: no random 3:1:1 draw puts all of them in training, so the best draw is repaired
    frame = pd.concat([random_ratings(n_users=50, n_items=30, per_user=(5, 20)),
                       pd.DataFrame({"user": np.arange(40) % 50, "item": 100 + np.arange(40), "rating": 5.0, "timestamp": 1.0})],
                      ignore_index=True)
    out = split_rlmrec(frame, seed=1, max_redraws=5)
    train = out[out["split"] == "train"]
    assert set(range(100, 140)) <= set(train["item"]) and set(train["user"]) == set(frame["user"])
    assert out.attrs["repaired"] > 0


def test_rlmrec_split_redraws_until_items_are_covered_too():
    """Ten items with two interactions each: a single 3:1:1 draw leaves one of them out of training about 83 % of
    the time, but one of 100 draws covers them all, so the split is a real draw (nothing repaired), for any seed."""
    rng = np.random.default_rng(0)
    dense = pd.DataFrame({"user": np.repeat(np.arange(30), 15), "item": rng.integers(0, 20, 450), "rating": 5.0,
                          "timestamp": 1.0}).drop_duplicates(["user", "item"])
    rare = pd.DataFrame({"user": np.arange(20), "item": 100 + np.arange(20) // 2, "rating": 5.0, "timestamp": 1.0})
    frame = pd.concat([dense, rare], ignore_index=True)
    for seed in range(5):
        out = split_rlmrec(frame, seed=seed)
        train = out[out["split"] == "train"]
        assert out.attrs["repaired"] == 0, seed
        assert set(train["item"]) == set(frame["item"]) and set(train["user"]) == set(frame["user"])


@pytest.mark.parametrize("n", [3, 9, 10, 19, 20, 37])
def test_user_80_10_10_holds_out_max_1_floor_10_percent(n):
    frame = pd.DataFrame({"user": np.zeros(n, dtype=int), "item": np.arange(n), "rating": 1.0, "timestamp": np.arange(n, dtype=float)})
    counts = split_user_ratio(frame, seed=0)["split"].value_counts()
    k = max(1, n // 10)
    assert counts.get("valid", 0) == k and counts.get("test", 0) == k and counts.get("train", 0) == n - 2 * k


def test_user_80_10_10_on_many_users():
    frame = random_ratings()
    out = apply_split(frame, "user_80_10_10", seed=3)
    for _, g in out.groupby("user"):
        k = max(1, len(g) // 10)
        c = g["split"].value_counts()
        assert (c.get("valid", 0), c.get("test", 0)) == (k, k)


def test_user_80_10_10_draws_each_users_held_out_positions_independently():
    """One random stream across users: users with the same number of interactions do not hold out the same
    positions of their histories (a generator re-created per user would repeat them), and the seed matters."""
    n_users, n = 40, 20
    frame = pd.DataFrame({"user": np.repeat(np.arange(n_users), n), "item": np.tile(np.arange(n), n_users),
                          "rating": 1.0, "timestamp": np.tile(np.arange(n, dtype=float), n_users)})
    out = split_user_ratio(frame, seed=0)
    patterns = {tuple(g.sort_values("timestamp")["split"]) for _, g in out.groupby("user")}
    assert len(patterns) > n_users // 2
    assert not out["split"].equals(split_user_ratio(frame, seed=1)["split"])


def test_leave_one_out_by_time_uses_timestamps_not_file_order():
    frame = random_ratings(seed=5).sample(frac=1.0, random_state=0)  # shuffled rows
    out = split_leave_one_out(frame)
    for _, g in out.groupby("user"):
        g = g.sort_values("timestamp")
        assert g["split"].tolist() == ["train"] * (len(g) - 2) + ["valid", "test"]


def test_leave_one_out_ties_keep_file_order():
    frame = pd.DataFrame({"user": [0, 0, 0, 0], "item": [5, 6, 7, 8], "rating": 1.0, "timestamp": [1.0, 2.0, 2.0, 2.0]})
    out = split_leave_one_out(frame)
    assert out.set_index("item")["split"].to_dict() == {5: "train", 6: "train", 7: "valid", 8: "test"}


def test_min_rating_and_k_core():
    frame = random_ratings(seed=2)
    out = apply_split(frame, "rlmrec", seed=0, min_rating=4, min_user=5, min_item=3)
    assert out["rating"].min() >= 4
    assert out.groupby("user").size().min() >= 5 and out.groupby("item").size().min() >= 3
    # "at least": a rating of exactly min_rating counts as an interaction (RLMRec keeps 4 and 5 on ML-100K)
    whole = apply_split(frame, "rlmrec", seed=0, min_rating=4)
    assert len(whole) == int((frame["rating"] >= 4).sum()) and (whole["rating"] == 4).any()
    # k_core iterates: item 3 (seen once) goes first, which leaves user 2 with one interaction
    chain = pd.DataFrame({"user": [0, 0, 1, 1, 2, 2], "item": [0, 1, 0, 1, 1, 3], "rating": 1.0, "timestamp": 0.0})
    kept = k_core(chain, 2, 2)
    assert sorted(zip(kept["user"], kept["item"])) == [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize("protocol", ["loo_time", "user_80_10_10"])
def test_per_user_protocols_keep_only_users_with_something_to_train_on(protocol):
    """Leave-one-out and 80/10/10 hold out a valid and a test item per user: a user needs a third to train on."""
    frame = pd.DataFrame({"user": [0, 0, 1, 1, 1, 2, 2, 2, 2], "item": [0, 1, 0, 1, 2, 0, 1, 2, 3],
                          "rating": 1.0, "timestamp": [1.0, 2.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0]})
    out = apply_split(frame, protocol, seed=0)
    assert sorted(out["user"].unique()) == [1, 2]
    assert (out[out["split"] == "train"].groupby("user").size() >= 1).all()
