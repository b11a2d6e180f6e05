"""The one in-memory dataset type every method reads.

An :class:`InteractionDataset` holds integer user/item ids ``0..n-1`` (with the raw ids they map to), one
row per interaction tagged with its split, and optional item text and user attributes. Matrices and
per-user sequences are derived views, so every protocol (graph CF, sequential, multinomial) reads the
same object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..utils import atomic_path, write_json
from .errors import DatasetFormatError
from .text import text_cells

SPLITS = ("train", "valid", "test")
INTERACTION_COLUMNS = ("user", "item", "rating", "timestamp", "split")


@dataclass
class InteractionDataset:
    """Users, items, split interactions and side information.

    ``interactions`` has the columns ``user``, ``item`` (int ids), ``rating`` and ``timestamp`` (float,
    NaN where the source has none) and ``split`` (train/valid/test). Rows of one user are in time order
    (file order where there are no timestamps).
    """

    name: str
    interactions: pd.DataFrame
    n_users: int
    n_items: int
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_text: pd.DataFrame | None = None
    user_attrs: pd.DataFrame | None = None
    split_protocol: str = "given"
    meta: dict = field(default_factory=dict)
    _matrices: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [c for c in INTERACTION_COLUMNS if c not in self.interactions.columns]
        if missing:
            raise DatasetFormatError(f"dataset {self.name}: interactions lack the column(s) {missing}")
        bad = set(self.interactions["split"].unique()) - set(SPLITS)
        if bad:
            raise DatasetFormatError(f"dataset {self.name}: unknown split label(s) {sorted(bad)}; use {SPLITS}")
        for col, n in (("user", self.n_users), ("item", self.n_items)):
            values = self.interactions[col].to_numpy()
            if len(values) and (values.min() < 0 or values.max() >= n):
                raise DatasetFormatError(f"dataset {self.name}: {col} ids must lie in [0, {n}), got {values.min()}..{values.max()}")

    # ----------------------------------------------------------------- views
    def matrix(self, splits: str | tuple[str, ...] = "train") -> sp.csr_matrix:
        """Binary users x items CSR matrix (float32) of the given split(s)."""
        key = (splits,) if isinstance(splits, str) else tuple(splits)
        if key not in self._matrices:
            rows = self.interactions[self.interactions["split"].isin(key)]
            data = np.ones(len(rows), dtype=np.float32)
            mat = sp.csr_matrix((data, (rows["user"].to_numpy(), rows["item"].to_numpy())), shape=(self.n_users, self.n_items))
            mat.sum_duplicates()
            mat.data[:] = 1.0
            self._matrices[key] = mat
        return self._matrices[key]

    @property
    def train(self) -> sp.csr_matrix:
        return self.matrix("train")

    @property
    def valid(self) -> sp.csr_matrix:
        return self.matrix("valid")

    @property
    def test(self) -> sp.csr_matrix:
        return self.matrix("test")

    def sequences(self, splits: str | tuple[str, ...] = ("train",)) -> list[np.ndarray]:
        """Per-user item sequences in time order over the given split(s) (one array per user id)."""
        key = (splits,) if isinstance(splits, str) else tuple(splits)
        rows = self.interactions[self.interactions["split"].isin(key)]
        out: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in range(self.n_users)]
        for user, items in rows.groupby("user", sort=False)["item"]:
            out[int(user)] = items.to_numpy(dtype=np.int64)
        return out

    def item_texts(self, fields: tuple[str, ...] | None = None, sep: str = ", ") -> list[str]:
        """One text per item: ``field: value`` pairs of the chosen item text columns."""
        if self.item_text is None:
            return [f"item {raw}" for raw in self.item_ids]
        cols = list(fields) if fields else list(self.item_text.columns)
        frame = text_cells(self.item_text[cols])
        return [sep.join(f"{c}: {v}" for c, v in zip(cols, row) if v) for row in frame.itertuples(index=False)]

    def user_texts(self, fields: tuple[str, ...] | None = None, sep: str = ", ") -> list[str]:
        """One text per user: ``field: value`` pairs of the chosen user attribute columns (ML-100K: age, gender,
        occupation). A dataset without user attributes has no user text: ``DatasetFormatError``."""
        if self.user_attrs is None:
            raise DatasetFormatError(f"dataset {self.name}: no user attributes (user_attrs), so no user text; "
                                     "use a dataset that has them (ml100k: age, gender, occupation)")
        cols = list(fields) if fields else list(self.user_attrs.columns)
        frame = text_cells(self.user_attrs[cols])
        return [sep.join(f"{c}: {v}" for c, v in zip(cols, row) if v) for row in frame.itertuples(index=False)]

    def stats(self) -> dict:
        """Counts per split and density: what the loaders print and 00_data shows."""
        counts = self.interactions["split"].value_counts()
        n = len(self.interactions)
        return {
            "dataset": self.name,
            "split_protocol": self.split_protocol,
            "n_users": int(self.n_users),
            "n_items": int(self.n_items),
            "n_interactions": int(n),
            **{f"n_{s}": int(counts.get(s, 0)) for s in SPLITS},
            "density": float(n / max(1, self.n_users * self.n_items)),
            "has_timestamps": bool(self.interactions["timestamp"].notna().any()),
            "has_item_text": self.item_text is not None,
            "has_user_attrs": self.user_attrs is not None,
        }

    def describe(self) -> str:
        s = self.stats()
        return (f"{s['dataset']} ({s['split_protocol']} split): {s['n_users']:,} users, {s['n_items']:,} items, "
                f"{s['n_train']:,} / {s['n_valid']:,} / {s['n_test']:,} train/valid/test interactions, "
                f"density {s['density']:.4%}")

    # ------------------------------------------------------------ save / load
    def save(self, folder: str | Path) -> Path:
        """Write the dataset as plain files (TSV + JSON) into ``folder``; each file is written atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "interactions.tsv.gz") as tmp:
            self.interactions.to_csv(tmp, sep="\t", index=False, compression="gzip")
        for name, frame in (("item_text", self.item_text), ("user_attrs", self.user_attrs)):
            path = folder / f"{name}.tsv"
            if frame is not None:
                with atomic_path(path) as tmp:
                    frame.to_csv(tmp, sep="\t", index=True)
            elif path.exists():
                path.unlink()
        write_json(folder / "dataset.json", {
            "name": self.name, "n_users": self.n_users, "n_items": self.n_items,
            "user_ids": [str(u) for u in self.user_ids], "item_ids": [str(i) for i in self.item_ids],
            "split_protocol": self.split_protocol, "meta": self.meta,
        })
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> InteractionDataset:
        folder = Path(folder)
        meta_path = folder / "dataset.json"
        if not meta_path.exists():
            raise DatasetFormatError(f"{meta_path}: missing; a saved dataset folder holds dataset.json and interactions.tsv.gz (write it with InteractionDataset.save)")
        info = json.loads(meta_path.read_text())
        inter = pd.read_csv(folder / "interactions.tsv.gz", sep="\t", dtype={"split": str})
        side = {}
        for name in ("item_text", "user_attrs"):
            path = folder / f"{name}.tsv"
            side[name] = _read_side(path) if path.exists() else None
        return cls(
            name=info["name"], interactions=inter, n_users=info["n_users"], n_items=info["n_items"],
            user_ids=np.array(info["user_ids"], dtype=object), item_ids=np.array(info["item_ids"], dtype=object),
            item_text=side["item_text"], user_attrs=side["user_attrs"], split_protocol=info["split_protocol"],
            meta=info.get("meta", {}),
        )


def _read_side(path: Path) -> pd.DataFrame:
    """A saved item_text/user_attrs table: string columns, integer id index (as before saving)."""
    frame = pd.read_csv(path, sep="\t", index_col=0, dtype=str, keep_default_na=False)
    try:
        frame.index = frame.index.astype(np.int64)
    except (TypeError, ValueError):
        pass
    frame.index.name = None
    return frame


def make_interactions(user: np.ndarray, item: np.ndarray, split: np.ndarray | str,
                      rating: np.ndarray | None = None, timestamp: np.ndarray | None = None) -> pd.DataFrame:
    """Build an interactions frame with the standard columns (NaN where rating/timestamp are unknown)."""
    n = len(user)
    return pd.DataFrame({
        "user": np.asarray(user, dtype=np.int64),
        "item": np.asarray(item, dtype=np.int64),
        "rating": np.full(n, np.nan) if rating is None else np.asarray(rating, dtype=np.float64),
        "timestamp": np.full(n, np.nan) if timestamp is None else np.asarray(timestamp, dtype=np.float64),
        "split": np.full(n, split, dtype=object) if isinstance(split, str) else np.asarray(split, dtype=object),
    })
