"""CLLM4Rec (yaochenzhu/LLM4Rec, arXiv 2311.01343) on-disk format.

``meta.pkl``: ``{"num_users": int, "num_items": int}``; ``train_matrix.npz``, ``val_matrix.npz``,
``test_matrix.npz``: ``scipy.sparse.save_npz`` CSR users x items (per-user 80/10/10, Multi-VAE protocol);
optional ``user_item_texts/review.pkl``: a list of ``(prompt, text)`` pairs for the content LM, where the
prompt names the pair with ``user_i`` / ``item_j`` tokens (read it with :func:`read_cllm4rec_reviews`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...utils import atomic_path
from ..dataset import InteractionDataset
from ..errors import DatasetFormatError
from ._common import as_binary_csr, build, dump_pickle, frame_from_matrices, load_pickle, require

SPLIT_FILES = {"train": "train_matrix.npz", "valid": "val_matrix.npz", "test": "test_matrix.npz"}
REVIEW_FILE = Path("user_item_texts") / "review.pkl"
META_WHAT = "a dict {'num_users': int, 'num_items': int}"
# the files a folder must hold, and what each holds (checked by ``formats.check_folder`` before any reading)
REQUIRED_FILES = {"meta.pkl": META_WHAT, **{name: f"the {split} matrix (users x items) written by scipy.sparse.save_npz"
                                           for split, name in SPLIT_FILES.items()}}
_TOKEN = re.compile(r"\b(user|item)_(\d+)\b")


def read_meta(folder: Path) -> tuple[int, int]:
    path = Path(folder) / "meta.pkl"
    meta = load_pickle(path, META_WHAT)
    if not isinstance(meta, Mapping):
        raise DatasetFormatError(f"{path}: expected a dict {{'num_users': int, 'num_items': int}}, got {type(meta).__name__}")
    out = []
    for key in ("num_users", "num_items"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise DatasetFormatError(f"{path}: field {key!r} must be a positive int, got {value!r}")
        out.append(int(value))
    return out[0], out[1]


def read_cllm4rec(folder: Path) -> InteractionDataset:
    """Read a CLLM4Rec dataset folder (meta + three matrices; reviews optional)."""
    folder = Path(folder)
    n_users, n_items = read_meta(folder)
    mats = {}
    for split, name in SPLIT_FILES.items():
        path = require(folder / name, f"the {split} matrix ({n_users} x {n_items}) written by scipy.sparse.save_npz")
        try:
            mat = sp.load_npz(path)
        except Exception as err:
            raise DatasetFormatError(f"{path}: cannot be read by scipy.sparse.load_npz ({type(err).__name__}: {err}); expected a CSR matrix saved with save_npz") from err
        mats[split] = as_binary_csr(mat, path, (n_users, n_items))
    extras = {"reviews": str(REVIEW_FILE)} if (folder / REVIEW_FILE).exists() else {}
    notes = [] if extras else [f"no {REVIEW_FILE} (content-LM texts); only the collaborative part is available"]
    return build(folder.name, frame_from_matrices(mats), n_users, n_items, "cllm4rec", folder, notes=notes, extras=extras)


def read_cllm4rec_reviews(folder: Path, n_users: int | None = None, n_items: int | None = None) -> pd.DataFrame:
    """``review.pkl`` as a frame ``user, item, prompt, text`` (ids parsed from the prompt's user_i / item_j
    tokens, -1 where a prompt names none)."""
    folder = Path(folder)
    path = folder / REVIEW_FILE
    data = load_pickle(path, "a list of (prompt, text) pairs")
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise DatasetFormatError(f"{path}: expected a list of (prompt, text) pairs, got {type(data).__name__}")
    rows = []
    for i, pair in enumerate(data):
        if not (isinstance(pair, Sequence) and len(pair) >= 2 and all(isinstance(p, str) for p in pair[:2])):
            raise DatasetFormatError(f"{path}: entry {i} must be a (prompt, text) pair of strings, got {pair!r:.80}")
        ids = {"user": -1, "item": -1}
        for kind, num in _TOKEN.findall(pair[0]):
            if ids[kind] < 0:
                ids[kind] = int(num)
        for kind, n in (("user", n_users), ("item", n_items)):
            if n is not None and ids[kind] >= n:
                raise DatasetFormatError(f"{path}: entry {i} names {kind}_{ids[kind]} but meta.pkl has num_{kind}s={n}")
        rows.append((ids["user"], ids["item"], pair[0], pair[1]))
    return pd.DataFrame(rows, columns=["user", "item", "prompt", "text"])


def write_cllm4rec(dataset: InteractionDataset, folder: Path, reviews: pd.DataFrame | None = None) -> Path:
    """Write ``dataset`` in CLLM4Rec's layout (float32 CSR npz + meta.pkl; reviews from a frame with
    ``prompt`` and ``text`` columns when given)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dump_pickle({"num_users": int(dataset.n_users), "num_items": int(dataset.n_items)}, folder / "meta.pkl")
    for split, name in SPLIT_FILES.items():
        with atomic_path(folder / name) as tmp:
            with open(tmp, "wb") as fh:
                sp.save_npz(fh, sp.csr_matrix(dataset.matrix(split), dtype=np.float32))
    if reviews is not None:
        (folder / REVIEW_FILE).parent.mkdir(parents=True, exist_ok=True)
        dump_pickle([(str(p), str(t)) for p, t in zip(reviews["prompt"], reviews["text"])], folder / REVIEW_FILE)
    return folder
