"""RLMRec (HKUDS/RLMRec, arXiv 2310.15950) on-disk format.

``trn_mat.pkl``, ``val_mat.pkl``, ``tst_mat.pkl``: pickled scipy sparse matrices (coo in the release),
users x items, non-zero = interaction (RLMRec binarises with ``!= 0``). Optional: ``usr_prf.pkl`` /
``itm_prf.pkl`` dicts ``id -> {"profile": str, "reasoning": str}`` (the LLM profiles) and
``usr_emb_np.pkl`` / ``itm_emb_np.pkl`` arrays ``[n, d]`` aligned to the ids (profile embeddings).
Profiles become the ``profile`` / ``reasoning`` columns of ``user_attrs`` / ``item_text``; embeddings are
read with :func:`read_rlmrec_embeddings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..dataset import InteractionDataset
from ..errors import DatasetFormatError
from ._common import as_binary_csr, build, check_array, dump_pickle, frame_from_matrices, load_pickle

SPLIT_FILES = {"train": "trn_mat.pkl", "valid": "val_mat.pkl", "test": "tst_mat.pkl"}
# the files a folder must hold, and what each holds (checked by ``formats.check_folder`` before any reading)
REQUIRED_FILES = {name: f"the {'training' if split == 'train' else split} matrix (users x items)"
                  for split, name in SPLIT_FILES.items()}
PROFILE_FILES = {"user": "usr_prf.pkl", "item": "itm_prf.pkl"}
EMBEDDING_FILES = {"user": "usr_emb_np.pkl", "item": "itm_emb_np.pkl"}
PROFILE_FIELDS = ("profile", "reasoning")


def read_rlmrec(folder: Path) -> InteractionDataset:
    """Read an RLMRec data folder (matrices required; profiles optional)."""
    folder = Path(folder)
    train = as_binary_csr(load_pickle(folder / SPLIT_FILES["train"], REQUIRED_FILES[SPLIT_FILES["train"]]),
                          folder / SPLIT_FILES["train"])
    mats = {"train": train}
    for split in ("valid", "test"):
        path = folder / SPLIT_FILES[split]
        mats[split] = as_binary_csr(load_pickle(path, REQUIRED_FILES[path.name]), path, train.shape)
    n_users, n_items = train.shape
    profiles = {}
    for side, n in (("user", n_users), ("item", n_items)):
        path = folder / PROFILE_FILES[side]
        if path.exists():
            profiles[side] = _profiles_frame(load_pickle(path, f"{side} profiles"), path, n)
    extras = {side: EMBEDDING_FILES[side] for side in EMBEDDING_FILES if (folder / EMBEDDING_FILES[side]).exists()}
    notes = []
    uncovered = int((np.asarray(train.getnnz(axis=1)) == 0).sum()), int((np.asarray(train.getnnz(axis=0)) == 0).sum())
    if any(uncovered):
        notes.append(f"{uncovered[0]} users and {uncovered[1]} items have no training interaction")
    return build(folder.name, frame_from_matrices(mats), n_users, n_items, "rlmrec", folder,
                 item_text=profiles.get("item"), user_attrs=profiles.get("user"), notes=notes,
                 extras={f"{k}_embeddings": v for k, v in extras.items()})


def _profiles_frame(obj, path: Path, n: int) -> pd.DataFrame:
    if not isinstance(obj, Mapping):
        raise DatasetFormatError(f"{path}: expected a dict {{id: {{'profile': str, 'reasoning': str}}}}, got {type(obj).__name__}")
    rows = {}
    for key, value in obj.items():
        try:
            idx = int(key)
        except (TypeError, ValueError):
            raise DatasetFormatError(f"{path}: key {key!r} is not an integer id") from None
        if not 0 <= idx < n:
            raise DatasetFormatError(f"{path}: id {idx} outside [0, {n}) of the interaction matrices")
        if not isinstance(value, Mapping) or "profile" not in value:
            raise DatasetFormatError(f"{path}: entry {key!r} lacks the field 'profile'; expected {{'profile': str, 'reasoning': str}}")
        rows[idx] = [str(value.get(f, "")) for f in PROFILE_FIELDS]
    frame = pd.DataFrame([rows.get(i, ["", ""]) for i in range(n)], columns=list(PROFILE_FIELDS))
    return frame


def read_rlmrec_embeddings(folder: Path, n_users: int | None = None, n_items: int | None = None) -> dict[str, np.ndarray]:
    """``{"user": [n_users, d], "item": [n_items, d]}`` from ``usr_emb_np.pkl`` / ``itm_emb_np.pkl`` (float32)."""
    folder = Path(folder)
    if n_users is None or n_items is None:
        shape = as_binary_csr(load_pickle(folder / SPLIT_FILES["train"], "the training matrix"), folder / SPLIT_FILES["train"]).shape
        n_users, n_items = shape
    out = {}
    for side, n in (("user", n_users), ("item", n_items)):
        path = folder / EMBEDDING_FILES[side]
        arr = check_array(load_pickle(path, f"{side} profile embeddings [n_{side}s, dim]"), path, n, f"{side} profile embeddings")
        out[side] = np.asarray(arr, dtype=np.float32)
    return out


def write_rlmrec(dataset: InteractionDataset, folder: Path, embeddings: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``dataset`` in RLMRec's layout (coo float64 matrices, like the release); profiles from the
    ``profile``/``reasoning`` columns of ``user_attrs``/``item_text`` when present; optional embeddings."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, name in SPLIT_FILES.items():
        dump_pickle(sp.coo_matrix(dataset.matrix(split), dtype=np.float64), folder / name)
    for side, frame in (("user", dataset.user_attrs), ("item", dataset.item_text)):
        if frame is not None and "profile" in frame.columns:
            prf = {i: {f: str(frame[f].iloc[i]) if f in frame.columns else "" for f in PROFILE_FIELDS} for i in range(len(frame))}
            dump_pickle(prf, folder / PROFILE_FILES[side])
    for side, arr in (embeddings or {}).items():
        n = dataset.n_users if side == "user" else dataset.n_items
        dump_pickle(check_array(np.asarray(arr), folder / EMBEDDING_FILES[side], n, f"{side} embeddings"), folder / EMBEDDING_FILES[side])
    return folder
