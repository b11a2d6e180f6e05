"""LLMRec's released feature files (its Netflix / MovieLens folders) as inputs of :class:`LLMRecBackbone`.

A folder of LLMRec's own layout (read by :func:`lmrec.data.formats.read_llmrec_features`) holds
``image_feat.npy`` / ``text_feat.npy`` (item content, one row per item), ``augmented_user_init_embedding``
(the LLM user profiles' embeddings, one row per user), ``augmented_atttribute_embedding_dict`` (one embedding
per item for each LLM-completed attribute: ``{attribute: rows indexed 0..n_items-1}``) and
``augmented_sample_dict`` (``{user: (liked item, disliked item)}``: the LLM-picked implicit-feedback pair).
This module maps them onto the backbone's arguments the way LLMRec's ``main.py`` reads them: both content
modalities weigh as ``text`` (``model_cat_rate``), the profile as ``profile`` (``user_cat_rate``), every
attribute as ``attribute`` (``item_cat_rate``); a pair whose items lie outside the catalogue is dropped, as there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.errors import DatasetFormatError
from ..data.formats import read_llmrec_features

CONTENT = ("image_feat", "text_feat")
PROFILE = "augmented_user_init_embedding"
ATTRIBUTES = "augmented_atttribute_embedding_dict"
PAIRS = "augmented_sample_dict"
REQUIRED = (*CONTENT, PROFILE, ATTRIBUTES, PAIRS)


@dataclass
class ReleasedInputs:
    """Keyword arguments of :class:`lmrec.llmrec.model.LLMRecBackbone` built from LLMRec's files."""

    user_feats: dict[str, np.ndarray] = field(default_factory=dict)
    item_feats: dict[str, np.ndarray] = field(default_factory=dict)
    item_families: dict[str, str] = field(default_factory=dict)
    aug_pairs: tuple[np.ndarray, np.ndarray] | None = None

    def kwargs(self) -> dict:
        return {"user_feats": self.user_feats, "item_feats": self.item_feats, "item_families": self.item_families,
                "aug_pairs": self.aug_pairs}


def _attribute_rows(table, path: Path, name: str, n_items: int) -> np.ndarray:
    try:
        rows = np.stack([np.asarray(table[i], dtype=np.float32).ravel() for i in range(len(table))])
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetFormatError(f"{path}: attribute {name!r} is not one equal-length vector per item 0..n-1 "
                                 f"({err!r}); expected {{attribute: rows indexed by item id}}") from err
    if rows.shape[0] != n_items:
        raise DatasetFormatError(f"{path}: attribute {name!r} has {rows.shape[0]} rows; the dataset has {n_items} items")
    return rows


def _pairs(table, path: Path, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    pos, neg = np.full(n_users, -1, dtype=np.int64), np.full(n_users, -1, dtype=np.int64)
    if not isinstance(table, dict):
        raise DatasetFormatError(f"{path}: a {type(table).__name__}; expected {{user id: (liked item, disliked item)}}")
    for user, pair in table.items():
        try:
            u, p, n = int(user), int(pair[0]), int(pair[1])
        except (TypeError, ValueError, IndexError) as err:
            raise DatasetFormatError(f"{path}: entry {user!r}: {pair!r} is not (liked item, disliked item)") from err
        if not 0 <= u < n_users:
            raise DatasetFormatError(f"{path}: user id {u} outside 0..{n_users - 1}")
        if 0 <= p < n_items and 0 <= n < n_items:  # LLMRec skips pairs outside the catalogue
            pos[u], neg[u] = p, n
    return pos, neg


def released_inputs(folder: str | Path, n_users: int, n_items: int) -> ReleasedInputs:
    """Read LLMRec's feature files in ``folder`` for a dataset of ``n_users`` x ``n_items``; every file of
    :data:`REQUIRED` must be there (a missing one is named with what it holds)."""
    folder = Path(folder)
    missing = [name for name in REQUIRED if not (folder / (name + (".npy" if name in CONTENT else ""))).exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: LLMRec's features {missing} are absent; LLMRec's run needs its item "
                                "content (image_feat.npy, text_feat.npy) and LLM augmentation pickles "
                                f"({PROFILE}, {ATTRIBUTES}, {PAIRS}) from its dataset folder")
    feats = read_llmrec_features(folder, n_users, n_items)
    out = ReleasedInputs(user_feats={"profile": np.asarray(feats[PROFILE], dtype=np.float32)})
    for name in CONTENT:
        out.item_feats[name] = np.asarray(feats[name], dtype=np.float32)
        out.item_families[name] = "text"
    attributes = feats[ATTRIBUTES]
    if not isinstance(attributes, dict) or not attributes:
        raise DatasetFormatError(f"{folder / ATTRIBUTES}: expected a non-empty {{attribute: rows indexed by item id}}")
    for name, table in sorted(attributes.items()):
        key = f"attr_{name}"
        out.item_feats[key] = _attribute_rows(table, folder / ATTRIBUTES, str(name), n_items)
        out.item_families[key] = "attribute"
    out.aug_pairs = _pairs(feats[PAIRS], folder / PAIRS, n_users, n_items)
    return out
