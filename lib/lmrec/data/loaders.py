"""``load_dataset``: one entry point from a dataset name and split protocol to an :class:`InteractionDataset`.

Names: ``ml100k`` (embedded default), or ``<format>:<folder>`` for a folder in one of the papers' own
on-disk formats (``rlmrec``, ``cllm4rec``, ``recformer``, ``llmrec``; see :mod:`lmrec.data.formats`),
which come pre-split (``split="given"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..paths import cache_dir, repo_path
from ..utils import stable_hash
from .dataset import InteractionDataset
from .movielens import fetch_ml100k, natural_title, read_raw_ml100k
from .splits import SPLIT_PROTOCOLS, apply_split

DATASET_FORMATS = ("rlmrec", "cllm4rec", "recformer", "llmrec")


def load_dataset(name: str = "ml100k", split: str = "rlmrec", seed: int = 2023, min_rating: float = 0,
                 min_user: int = 1, min_item: int = 1, use_cache: bool = True) -> InteractionDataset:
    """Load and split a dataset; the result is cached under ``outputs/cache/datasets``.

    ``name`` is ``ml100k`` or ``<format>:<folder>`` (a relative folder is taken from the repository root).
    ``min_rating`` keeps interactions rated at least that (0 keeps all); ``min_user``/``min_item``
    apply a k-core filter before splitting.
    """
    check_dataset(name, split)
    if ":" in name:
        from . import formats

        fmt, folder = name.split(":", 1)
        return formats.read_format(fmt, repo_path(folder))
    key = stable_hash({"name": name, "split": split, "seed": seed, "min_rating": min_rating,
                       "min_user": min_user, "min_item": min_item, "v": 1}, 12)
    folder = cache_dir("datasets") / f"{name}-{split}-{key}"
    if use_cache and (folder / "dataset.json").exists():
        return InteractionDataset.load(folder)
    dataset = build_ml100k(split, seed, min_rating, min_user, min_item)
    dataset.save(folder)
    return dataset


def check_dataset(name: str, split: str) -> None:
    """The checks :func:`load_dataset` makes before reading anything: a known name or format, a split the dataset
    allows, and for ``<format>:<folder>`` a folder holding the format's files (:func:`formats.check_folder`).
    Cheap enough for the run planner, which refuses a bad ``DATASET`` before any kernel starts."""
    if ":" in name:
        fmt, folder = name.split(":", 1)
        if fmt not in DATASET_FORMATS:
            raise ValueError(f"unknown dataset format {fmt!r} in DATASET={name!r}; use one of {DATASET_FORMATS} as '<format>:<folder>'")
        if split not in ("given",):
            raise ValueError(f"DATASET={name!r} comes pre-split; use SPLIT='given' (got {split!r})")
        from . import formats

        formats.check_folder(fmt, repo_path(folder))
        return
    if name != "ml100k":
        raise ValueError(f"unknown dataset {name!r}: use 'ml100k' or '<format>:<folder>' with format in {DATASET_FORMATS}")
    if split not in SPLIT_PROTOCOLS:
        raise ValueError(f"unknown SPLIT {split!r} for ml100k; choose one of {SPLIT_PROTOCOLS}")


def build_ml100k(split: str, seed: int, min_rating: float = 0, min_user: int = 1, min_item: int = 1,
                 raw_folder: Path | None = None) -> InteractionDataset:
    """MovieLens-100K with item text (title, year, genres) and user attributes (age, gender, occupation)."""
    raw = read_raw_ml100k(raw_folder or fetch_ml100k())
    ratings = raw["ratings"].sort_values(["user", "timestamp"], kind="stable")
    frame = apply_split(ratings, split, seed, min_rating=min_rating, min_user=min_user, min_item=min_item)
    return reindex(frame, "ml100k", split, raw["items"], raw["users"], meta={"repaired": frame.attrs.get("repaired", 0),
                                                                        "min_rating": min_rating, "seed": seed})


def reindex(frame: pd.DataFrame, name: str, split: str, items: pd.DataFrame | None = None,
            users: pd.DataFrame | None = None, meta: dict | None = None) -> InteractionDataset:
    """Map raw user/item ids of a split frame to contiguous ints (sorted raw ids) and attach side information."""
    user_ids = np.array(sorted(frame["user"].unique(), key=_id_sort_key), dtype=object)
    item_ids = np.array(sorted(frame["item"].unique(), key=_id_sort_key), dtype=object)
    umap = {u: i for i, u in enumerate(user_ids)}
    imap = {u: i for i, u in enumerate(item_ids)}
    inter = pd.DataFrame({
        "user": frame["user"].map(umap).to_numpy(np.int64), "item": frame["item"].map(imap).to_numpy(np.int64),
        "rating": frame["rating"].to_numpy(float), "timestamp": frame["timestamp"].to_numpy(float),
        "split": frame["split"].to_numpy(object),
    })
    inter = inter.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    item_text = user_attrs = None
    if items is not None:
        items = items.assign(item=items["item"].astype(str)).set_index("item")
        item_text = items.loc[[str(i) for i in item_ids]].reset_index(drop=True)
        if "title" in item_text:
            item_text["title"] = item_text["title"].map(natural_title)
    if users is not None:
        users = users.assign(user=users["user"].astype(str)).set_index("user")
        user_attrs = users.loc[[str(u) for u in user_ids]].reset_index(drop=True)
    return InteractionDataset(name=name, interactions=inter, n_users=len(user_ids), n_items=len(item_ids),
                              user_ids=np.array([str(u) for u in user_ids], dtype=object),
                              item_ids=np.array([str(i) for i in item_ids], dtype=object),
                              item_text=item_text, user_attrs=user_attrs, split_protocol=split, meta=meta or {})


def _id_sort_key(value):
    try:
        return (0, int(value), "")
    except (TypeError, ValueError):
        return (1, 0, str(value))
