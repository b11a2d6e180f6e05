"""Shared pieces of the format readers/writers: robust file loading, checks that raise
:class:`DatasetFormatError` naming the file, the field and what was expected, and assembly of an
:class:`InteractionDataset` from per-split matrices or per-user lists."""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...utils import atomic_path
from ..dataset import SPLITS, InteractionDataset, make_interactions
from ..errors import DatasetFormatError

# Old scipy (< 1.8) pickled sparse matrices under public module paths (``scipy.sparse.coo``...);
# newer ones under private ones (``scipy.sparse._coo``). Both are mapped onto today's classes.
_SPARSE_CLASSES = {
    "coo_matrix": sp.coo_matrix, "csr_matrix": sp.csr_matrix, "csc_matrix": sp.csc_matrix,
    "dok_matrix": sp.dok_matrix, "lil_matrix": sp.lil_matrix, "coo_array": sp.coo_array,
    "csr_array": sp.csr_array, "csc_array": sp.csc_array, "dok_array": sp.dok_array, "lil_array": sp.lil_array,
}


class _CompatUnpickler(pickle.Unpickler):
    """Unpickler that resolves sparse-matrix classes from any scipy version's module path."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("scipy.sparse") and name in _SPARSE_CLASSES:
            return _SPARSE_CLASSES[name]
        if module.startswith("numpy.core"):  # pickles written by NumPy 1.x read under NumPy 2
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def require(path: Path, what: str) -> Path:
    """``path`` must exist; else a clear error naming the file and what it should hold."""
    if not path.exists():
        raise DatasetFormatError(f"{path}: missing; expected {what}")
    return path


def load_pickle(path: Path, what: str) -> Any:
    """Unpickle ``path`` (old scipy/NumPy pickles included); wrap any failure in a DatasetFormatError."""
    require(path, what)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            return _CompatUnpickler(io.BytesIO(data)).load()
        except UnicodeDecodeError:  # Python 2 pickles of NumPy arrays
            return _CompatUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DatasetFormatError:
        raise
    except Exception as err:
        raise DatasetFormatError(f"{path}: cannot be unpickled ({type(err).__name__}: {err}); expected {what}") from err


def dump_pickle(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=4)


def load_json(path: Path, what: str) -> Any:
    require(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFormatError(f"{path}: not valid JSON ({err}); expected {what}") from err


def dump_json(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj), encoding="utf-8")


def as_binary_csr(obj: Any, path: Path, shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    """Check that ``obj`` (read from ``path``) is a users x items sparse matrix; return it binary CSR.

    Rebuilds the matrix from its raw arrays so that objects unpickled from old scipy versions (whose
    internal attributes differ) become ordinary current matrices.
    """
    expected = "a scipy sparse matrix of shape (n_users, n_items)" if shape is None else f"a scipy sparse matrix of shape {shape}"
    if not sp.issparse(obj):
        kind = type(obj).__name__
        raise DatasetFormatError(f"{path}: expected {expected}, got {kind}")
    try:
        coo = _rebuild_coo(obj)
    except Exception as err:
        raise DatasetFormatError(f"{path}: sparse matrix is unreadable ({type(err).__name__}: {err}); re-save it with a current scipy") from err
    if coo.ndim != 2:
        raise DatasetFormatError(f"{path}: expected {expected}, got {coo.ndim} dimensions")
    if shape is not None and tuple(coo.shape) != tuple(shape):
        raise DatasetFormatError(f"{path}: shape {tuple(coo.shape)} does not match {shape}; all split matrices must be (n_users, n_items)")
    data = np.asarray(coo.data)
    if data.size and not np.all(np.isfinite(data)):
        raise DatasetFormatError(f"{path}: matrix values must be finite (interaction weights), found NaN/inf")
    keep = data != 0
    mat = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (coo.row[keep], coo.col[keep])), shape=coo.shape)
    mat.sum_duplicates()
    mat.data[:] = 1.0
    return mat


def _rebuild_coo(obj: Any) -> sp.coo_matrix:
    """A fresh coo_matrix from the raw arrays of any sparse object (old pickles may lack new attributes)."""
    state = getattr(obj, "__dict__", {})
    shape = state.get("_shape") or state.get("shape")
    if isinstance(obj, sp.coo_matrix | sp.coo_array) and shape is not None:
        row = state["row"] if "row" in state else state["coords"][0]
        col = state["col"] if "col" in state else state["coords"][1]
        return sp.coo_matrix((np.asarray(state["data"]), (np.asarray(row), np.asarray(col))), shape=tuple(shape))
    if isinstance(obj, sp.csr_matrix | sp.csr_array | sp.csc_matrix | sp.csc_array) and shape is not None:
        cls = sp.csr_matrix if isinstance(obj, sp.csr_matrix | sp.csr_array) else sp.csc_matrix
        return cls((np.asarray(state["data"]), np.asarray(state["indices"]), np.asarray(state["indptr"])),
                   shape=tuple(shape)).tocoo()
    return sp.coo_matrix(obj)


def check_id_lists(obj: Any, path: Path, n_items: int | None, field: str = "item ids") -> dict[int, list[int]]:
    """``{"<uid>": [item ids]}`` JSON: keys are integer user ids, values lists of integer item ids."""
    if not isinstance(obj, Mapping):
        raise DatasetFormatError(f"{path}: expected a JSON object {{user id: [{field}]}}, got {type(obj).__name__}")
    out: dict[int, list[int]] = {}
    for key, items in obj.items():
        try:
            uid = int(key)
        except (TypeError, ValueError):
            raise DatasetFormatError(f"{path}: key {key!r} is not an integer user id; expected {{user id: [{field}]}}") from None
        if uid < 0:
            raise DatasetFormatError(f"{path}: user id {uid} is negative; ids start at 0")
        if not isinstance(items, list) or not all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in items):
            raise DatasetFormatError(f"{path}: value of user {key!r} must be a list of integer {field}, got {items!r:.80}")
        if items and min(items) < 0:
            raise DatasetFormatError(f"{path}: user {key!r} has a negative {field[:-1]} {min(items)}; ids start at 0")
        if n_items is not None and items and max(items) >= n_items:
            raise DatasetFormatError(f"{path}: user {key!r} has {field[:-1]} {max(items)} >= n_items={n_items}; ids must be < the number of items")
        out[uid] = [int(i) for i in items]
    return out


def frame_from_matrices(mats: dict[str, sp.csr_matrix]) -> pd.DataFrame:
    """Interactions frame from binary split matrices (rows grouped by user; train, then valid, then test)."""
    parts = []
    for split in SPLITS:
        coo = mats[split].tocoo()
        order = np.lexsort((coo.col, coo.row))
        parts.append(make_interactions(coo.row[order], coo.col[order], split))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values("user", kind="stable").reset_index(drop=True)


def frame_from_lists(lists: dict[str, dict[int, list[int]]]) -> pd.DataFrame:
    """Interactions frame from per-split ``{user: [items in order]}`` (a user's train items, then valid, then test)."""
    users, items, splits = [], [], []
    for split in SPLITS:
        for uid, seq in lists.get(split, {}).items():
            users.extend([uid] * len(seq))
            items.extend(seq)
            splits.extend([split] * len(seq))
    frame = make_interactions(np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64),
                              np.asarray(splits, dtype=object))
    return frame.sort_values("user", kind="stable").reset_index(drop=True)


def lists_from_dataset(dataset: InteractionDataset, split: str) -> dict[int, list[int]]:
    """Per-user item lists of one split, in the dataset's row (time) order."""
    rows = dataset.interactions[dataset.interactions["split"] == split]
    return {int(u): g.to_numpy(dtype=np.int64).tolist() for u, g in rows.groupby("user", sort=True)["item"]}


def build(name: str, frame: pd.DataFrame, n_users: int, n_items: int, fmt: str, folder: Path,
          user_ids: np.ndarray | None = None, item_ids: np.ndarray | None = None,
          item_text: pd.DataFrame | None = None, user_attrs: pd.DataFrame | None = None,
          notes: list[str] | None = None, extras: dict | None = None) -> InteractionDataset:
    """Assemble the dataset (ids default to ``"0".."n-1"``); ``meta`` records format, folder, notes, extra files."""
    def ids(n: int) -> np.ndarray:
        return np.array([str(i) for i in range(n)], dtype=object)

    meta = {"format": fmt, "folder": str(folder), "notes": list(notes or []), "extras": dict(extras or {})}
    dataset = InteractionDataset(name=name, interactions=frame, n_users=int(n_users), n_items=int(n_items),
                              user_ids=ids(n_users) if user_ids is None else user_ids,
                              item_ids=ids(n_items) if item_ids is None else item_ids,
                              item_text=item_text, user_attrs=user_attrs, split_protocol="given", meta=meta)
    overlap = held_out_in_train(dataset)
    meta["held_out_in_train"] = overlap
    if any(overlap.values()):
        meta["notes"].append(f"{overlap['valid']:,} valid and {overlap['test']:,} test (user, item) pairs also occur in "
                             "training; masking training items at evaluation makes those targets unreachable")
    return dataset


def held_out_in_train(dataset: InteractionDataset) -> dict[str, int]:
    """How many valid / test (user, item) pairs also occur in the training split."""
    train = dataset.matrix("train")
    return {split: int(dataset.matrix(split).multiply(train).nnz) for split in ("valid", "test")}


def check_array(arr: Any, path: Path, rows: int, what: str) -> np.ndarray:
    """A 2-D float array with ``rows`` rows (one per user or item)."""
    if isinstance(arr, Mapping):  # some forks store {id: vector}
        try:
            arr = np.stack([np.asarray(arr[k], dtype=np.float32) for k in sorted(arr)])
        except Exception as err:
            raise DatasetFormatError(f"{path}: expected {what}: a 2-D array or {{id: vector}} dict, could not stack ({err})") from err
    if not isinstance(arr, np.ndarray):
        raise DatasetFormatError(f"{path}: expected {what} as a NumPy array, got {type(arr).__name__}")
    if arr.ndim != 2:
        raise DatasetFormatError(f"{path}: expected {what} as a 2-D array (rows, dim), got shape {arr.shape}")
    if arr.shape[0] != rows:
        raise DatasetFormatError(f"{path}: has {arr.shape[0]} rows, expected {rows} ({what}, one row per id)")
    return arr
