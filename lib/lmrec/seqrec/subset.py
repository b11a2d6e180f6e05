"""Restrict a leave-one-out dataset to the items that have text (text-based recommenders need it).

Recformer's Scientific split ships text for only part of its items. The subset keeps every interaction
with an item that has text, and the users whose validation and test items both have text and who keep
at least one training item; items and users are re-indexed. Held-out targets are never moved or
replaced, so the protocol stays leave-one-out on the original targets (histories lose the textless items).
"""

from __future__ import annotations

import numpy as np

from ..data import InteractionDataset
from ..data.text import text_cells


def items_with_text(dataset: InteractionDataset) -> np.ndarray:
    """Boolean ``[n_items]``: the item has a non-empty text in any ``item_text`` column."""
    if dataset.item_text is None:
        return np.zeros(dataset.n_items, dtype=bool)
    return (text_cells(dataset.item_text) != "").any(axis=1).to_numpy()


def restrict_to_items(dataset: InteractionDataset, keep: np.ndarray) -> tuple[InteractionDataset, dict]:
    """The sub-dataset on items ``keep`` (boolean ``[n_items]``) as described in the module docstring;
    returns it with counts of what was kept."""
    keep = np.asarray(keep, dtype=bool)
    inter = dataset.interactions[keep[dataset.interactions["item"].to_numpy()]]
    per_user = inter.groupby("user")["split"].agg(lambda s: set(s))
    good_users = np.array([u for u, s in per_user.items() if {"train", "valid", "test"} <= s], dtype=np.int64)
    held = dataset.interactions[dataset.interactions["split"] != "train"]
    lost_target = held.loc[~keep[held["item"].to_numpy()], "user"].unique()
    good_users = np.setdiff1d(good_users, lost_target)
    inter = inter[inter["user"].isin(good_users)]
    items = np.unique(inter["item"].to_numpy())
    umap = -np.ones(dataset.n_users, dtype=np.int64)
    umap[good_users] = np.arange(len(good_users))
    imap = -np.ones(dataset.n_items, dtype=np.int64)
    imap[items] = np.arange(len(items))
    inter = inter.assign(user=umap[inter["user"].to_numpy()], item=imap[inter["item"].to_numpy()]).reset_index(drop=True)
    sub = InteractionDataset(
        name=f"{dataset.name}[items with text]", interactions=inter, n_users=len(good_users), n_items=len(items),
        user_ids=np.asarray(dataset.user_ids)[good_users], item_ids=np.asarray(dataset.item_ids)[items],
        item_text=None if dataset.item_text is None else dataset.item_text.iloc[items].reset_index(drop=True),
        user_attrs=None if dataset.user_attrs is None else dataset.user_attrs.iloc[good_users].reset_index(drop=True),
        split_protocol=dataset.split_protocol, meta={**dataset.meta, "subset": "items with text"})
    stats = {"users_before": dataset.n_users, "items_before": dataset.n_items,
             "interactions_before": len(dataset.interactions), "items_with_text": int(keep.sum()),
             "users": sub.n_users, "items": sub.n_items, "interactions": len(inter)}
    return sub, stats


def text_subset(dataset: InteractionDataset) -> tuple[InteractionDataset, dict]:
    """The dataset restricted to its items with text when only some have text (unchanged when all or none
    do), with counts of what was kept (``text_subset`` says whether it was restricted)."""
    keep = items_with_text(dataset)
    stats = {"text_subset": False, "items_with_text": int(keep.sum()), "n_items": dataset.n_items}
    if keep.any() and not keep.all():
        dataset, sub = restrict_to_items(dataset, keep)
        stats.update(sub, text_subset=True)
    return dataset, stats
