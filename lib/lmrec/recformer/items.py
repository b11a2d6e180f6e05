"""Item attributes (the key-value pairs Recformer flattens into item sentences) and the text subset.

MovieLens-100K: ``title``, ``year``, ``genres``. Recformer's Amazon format: ``title``, ``category``,
``brand`` (the order of the original ``meta_data.json``); a single ``text`` column written as
``"title. category. brand."`` (the shared Scientific split) is split back into those three.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import InteractionDataset
from ..data.dataset import SPLITS
from ..data.text import text_cells

Attributes = list[tuple[str, str]]


def split_amazon_text(text: str) -> Attributes:
    """``"title. category. brand."`` -> ``[(title, ..), (category, ..), (brand, ..)]`` (empty parts dropped;
    titles may contain '. ', so the last two parts are the brand and the category)."""
    body = str(text).strip()
    if body.endswith("."):
        body = body[:-1]
    parts = [p.strip() for p in body.rsplit(". ", 2)]
    keys = ("title", "category", "brand")[: len(parts)] if len(parts) == 3 else ("title", "category")[: len(parts)]
    return [(k, v) for k, v in zip(keys, parts) if v]


def item_attributes(dataset: InteractionDataset, fields: tuple[str, ...] | None = None) -> list[Attributes]:
    """One ``[(key, value), ...]`` list per item id (empty where an item has no text)."""
    frame = dataset.item_text
    if frame is None:
        raise ValueError(f"dataset {dataset.name} has no item text; Recformer needs item attributes "
                         f"(load a dataset with item_text, e.g. ml100k or a recformer folder with item text)")
    if len(frame) != dataset.n_items:
        raise ValueError(f"dataset {dataset.name}: item_text has {len(frame)} rows for {dataset.n_items} items")
    cols = list(fields) if fields else list(frame.columns)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"dataset {dataset.name}: item_text lacks column(s) {missing}; it has {list(frame.columns)}")
    out: list[Attributes] = []
    for row in text_cells(frame[cols]).itertuples(index=False):
        values = dict(zip(cols, row))
        if cols == ["text"]:
            out.append(split_amazon_text(values["text"]) if values["text"] else [])
        else:
            out.append([(c.replace("_", " "), v) for c, v in values.items() if v])
    return out


def restrict_to_text(dataset: InteractionDataset, attributes: list[Attributes], users: np.ndarray | None = None
                ) -> tuple[InteractionDataset, dict]:
    """Keep the items that have text and the users whose valid and test items have text and who keep at
    least one training item (restricted to ``users`` when given); ids are re-numbered. Returns the subset
    and counts of what was kept."""
    has_text = np.array([len(a) > 0 for a in attributes])
    inter = dataset.interactions
    inter = inter[has_text[inter["item"].to_numpy()]]
    if users is not None:
        inter = inter[inter["user"].isin(users)]
    per_split = inter.groupby(["user", "split"]).size().unstack(fill_value=0)
    for s in SPLITS:
        if s not in per_split:
            per_split[s] = 0
    keep_users = per_split.index[(per_split["train"] > 0) & (per_split["valid"] > 0) & (per_split["test"] > 0)].to_numpy()
    inter = inter[inter["user"].isin(keep_users)]
    users = np.sort(inter["user"].unique())
    items = np.sort(inter["item"].unique())
    umap = pd.Series(np.arange(len(users)), index=users)
    imap = pd.Series(np.arange(len(items)), index=items)
    new = inter.assign(user=umap.loc[inter["user"]].to_numpy(), item=imap.loc[inter["item"]].to_numpy()).reset_index(drop=True)
    sub = InteractionDataset(
        name=dataset.name if dataset.name.endswith("[text]") else f"{dataset.name}[text]", interactions=new, n_users=len(users), n_items=len(items),
        user_ids=dataset.user_ids[users], item_ids=dataset.item_ids[items],
        item_text=dataset.item_text.iloc[items].reset_index(drop=True) if dataset.item_text is not None else None,
        user_attrs=dataset.user_attrs.iloc[users].reset_index(drop=True) if dataset.user_attrs is not None else None,
        split_protocol=dataset.split_protocol, meta={**dataset.meta, "text_subset_of": dataset.name},
    )
    stats = {"items_with_text": int(has_text.sum()), "items_total": int(dataset.n_items), "items_kept": int(len(items)),
             "users_total": int(dataset.n_users), "users_kept": int(len(users)),
             "interactions_kept": int(len(new)), "interactions_total": int(len(dataset.interactions))}
    return sub, stats
