"""Split protocols, deterministic under a seed. Each takes a raw interactions frame (user, item, rating,
timestamp; raw ids) and returns it filtered, with a ``split`` column.

* ``rlmrec``: implicit feedback (rating >= ``min_rating``), random 3:1:1 per interaction, re-drawn until
  every user and item has a training interaction (RLMRec, arXiv 2310.15950, Sec. 4.1).
* ``user_80_10_10``: per user, a random 10 % (at least one) to validation and the same to test
  (CLLM4Rec / Multi-VAE protocol).
* ``loo_time``: per user by time, last item to test, second-to-last to validation (Recformer / LEARN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLIT_PROTOCOLS = ("rlmrec", "user_80_10_10", "loo_time")


def k_core(frame: pd.DataFrame, min_user: int, min_item: int) -> pd.DataFrame:
    """Repeatedly drop users with fewer than ``min_user`` and items with fewer than ``min_item`` interactions."""
    while True:
        u = frame["user"].map(frame["user"].value_counts())
        i = frame["item"].map(frame["item"].value_counts())
        keep = (u >= min_user) & (i >= min_item)
        if keep.all():
            return frame
        frame = frame[keep]


def split_rlmrec(frame: pd.DataFrame, seed: int, ratios=(3, 1, 1), max_redraws: int = 100) -> pd.DataFrame:
    """Random per-interaction split, re-drawn until all users and items appear in training.

    When no draw out of ``max_redraws`` covers every user and item (long-tail items with one or two
    interactions make that unlikely), the best draw is repaired by moving one interaction of each
    uncovered user/item into training; ``frame.attrs['repaired']`` counts those moves.
    """
    rng = np.random.default_rng(seed)
    p = np.asarray(ratios, dtype=float) / sum(ratios)
    users, items = frame["user"].to_numpy(), frame["item"].to_numpy()
    best, best_missing = None, None
    for _ in range(max_redraws):
        labels = rng.choice(3, size=len(frame), p=p)
        train = labels == 0
        missing = (len(np.setdiff1d(users, users[train])) + len(np.setdiff1d(items, items[train])))
        if best_missing is None or missing < best_missing:
            best, best_missing = labels, missing
        if missing == 0:
            break
    labels = best.copy()
    repaired = 0
    for col in (users, items):
        covered = set(col[labels == 0].tolist())
        for idx in np.flatnonzero(labels != 0):
            if col[idx] not in covered:
                labels[idx] = 0
                covered.add(col[idx])
                repaired += 1
    out = frame.assign(split=np.array(["train", "valid", "test"], dtype=object)[labels])
    out.attrs["repaired"] = repaired
    return out


def split_user_ratio(frame: pd.DataFrame, seed: int, holdout: float = 0.1) -> pd.DataFrame:
    """Per user: ``max(1, floor(holdout * n))`` random interactions to validation, the same to test."""
    rng = np.random.default_rng(seed)
    labels = np.empty(len(frame), dtype=object)
    for _, idx in frame.groupby("user", sort=True).indices.items():
        n = len(idx)
        k = max(1, int(np.floor(holdout * n)))
        perm = rng.permutation(idx)
        labels[perm[:k]] = "valid"
        labels[perm[k:2 * k]] = "test"
        labels[perm[2 * k:]] = "train"
    return frame.assign(split=labels)


def split_leave_one_out(frame: pd.DataFrame) -> pd.DataFrame:
    """Per user in time order (stable for ties): last -> test, second-to-last -> valid, rest -> train."""
    frame = frame.sort_values(["user", "timestamp"], kind="stable")
    pos_from_end = frame.groupby("user").cumcount(ascending=False).to_numpy()
    labels = np.where(pos_from_end == 0, "test", np.where(pos_from_end == 1, "valid", "train")).astype(object)
    return frame.assign(split=labels)


def apply_split(frame: pd.DataFrame, protocol: str, seed: int, min_rating: float | None = None,
                min_user: int = 1, min_item: int = 1) -> pd.DataFrame:
    """Filter (rating threshold, k-core) and split ``frame`` with the named protocol."""
    if protocol not in SPLIT_PROTOCOLS:
        raise ValueError(f"unknown split protocol {protocol!r}; choose one of {SPLIT_PROTOCOLS}")
    if min_rating is not None and min_rating > 0:
        frame = frame[frame["rating"] >= min_rating]
    floor = 3 if protocol != "rlmrec" else 1  # a held-out item each for valid and test plus one to train on
    frame = k_core(frame, max(min_user, floor), min_item)
    if protocol == "rlmrec":
        return split_rlmrec(frame, seed)
    if protocol == "user_80_10_10":
        return split_user_ratio(frame, seed)
    return split_leave_one_out(frame)
