"""Recformer's pretraining corpus: Amazon 2018 (McAuley lab, amazon_v2) 5-core reviews + metadata.

The paper pretrains on 7 categories and validates on an 8th (``CDs_and_Vinyl``). Raw files per category:
``<Category>_5.json.gz`` (one JSON review per line: reviewerID, asin, unixReviewTime) and
``meta_<Category>.json.gz`` (one JSON product per line: asin, title, brand, category list), from
https://cseweb.ucsd.edu/~jmcauley/datasets/amazon_v2/ (they are not redistributable; download them by
hand). Items keep ``title``, ``brand``, ``category`` (the category list joined by spaces) and must appear in
both files with a title; sequences are per (user, category), sorted by review time.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..data import DatasetFormatError
from ..utils import atomic_path

PRETRAIN_CATEGORIES = ("Automotive", "Cell_Phones_and_Accessories", "Clothing_Shoes_and_Jewelry", "Electronics",
                       "Grocery_and_Gourmet_Food", "Home_and_Kitchen", "Movies_and_TV")
DEV_CATEGORY = "CDs_and_Vinyl"
AMAZON_URL = "https://cseweb.ucsd.edu/~jmcauley/datasets/amazon_v2/"


def _lines(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise DatasetFormatError(f"{path}:{n}: not a JSON object per line ({err}); use the amazon_v2 "
                                         f"files from {AMAZON_URL}") from err


def prepare_amazon_pretraining(raw_folder: str | Path, out_folder: str | Path,
                               categories: tuple[str, ...] = PRETRAIN_CATEGORIES,
                               dev_category: str | None = DEV_CATEGORY) -> dict:
    """Write ``train.json`` / ``dev.json`` (lists of asin sequences) and ``meta_data.json`` ({asin: {title,
    brand, category}}) into ``out_folder``, as the original scripts do. Returns counts."""
    raw = Path(raw_folder)
    cats = list(categories) + ([dev_category] if dev_category else [])
    need = [raw / f"meta_{c}.json.gz" for c in cats] + [raw / f"{c}_5.json.gz" for c in cats]
    missing = [p.name for p in need if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{raw}: missing Amazon 2018 file(s) {missing}; download the 5-core reviews and "
                                f"metadata of {cats} from {AMAZON_URL} into that folder")
    seq_asins: set[str] = set()
    for c in cats:
        for rec in _lines(raw / f"{c}_5.json.gz"):
            if rec.get("asin") is not None and rec.get("reviewerID") is not None:
                seq_asins.add(rec["asin"])
    meta: dict[str, dict[str, str]] = {}
    for c in cats:
        for rec in _lines(raw / f"meta_{c}.json.gz"):
            asin, title = rec.get("asin"), rec.get("title")
            if asin is None or title is None or asin not in seq_asins:
                continue
            category = rec.get("category") or []
            meta[asin] = {"title": str(title), "brand": str(rec.get("brand") or ""),
                          "category": " ".join(category) if isinstance(category, list) else str(category)}
    splits = {"train": list(categories), "dev": [dev_category] if dev_category else []}
    out = Path(out_folder)
    counts: dict[str, int] = {"items": len(meta)}
    for name, group in splits.items():
        seqs: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for c in group:
            for rec in _lines(raw / f"{c}_5.json.gz"):
                if rec.get("asin") in meta and rec.get("reviewerID") is not None:
                    seqs[f"{rec['reviewerID']}_{c}"].append((int(rec.get("unixReviewTime", 0)), rec["asin"]))
        ordered = [[a for _, a in sorted(v)] for v in seqs.values()]
        with atomic_path(out / f"{name}.json") as tmp:
            tmp.write_text(json.dumps(ordered))
        counts[f"{name}_sequences"] = len(ordered)
    with atomic_path(out / "meta_data.json") as tmp:
        tmp.write_text(json.dumps(meta))
    return counts


def load_pretraining_corpus(folder: str | Path, split: str = "train") -> tuple[list[np.ndarray], list[list[tuple[str, str]]], list[str]]:
    """Read a prepared corpus: ``(sequences as item indices, attributes per item, asins)``."""
    folder = Path(folder)
    for name in (f"{split}.json", "meta_data.json"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name}: missing; build the folder with prepare_amazon_pretraining(raw, '{folder}')")
    meta = json.loads((folder / "meta_data.json").read_text())
    if not isinstance(meta, dict):
        raise DatasetFormatError(f"{folder / 'meta_data.json'}: expected an object {{asin: {{title, brand, category}}}}")
    asins = sorted(meta)
    index = {a: i for i, a in enumerate(asins)}
    raw = json.loads((folder / f"{split}.json").read_text())
    if not isinstance(raw, list):
        raise DatasetFormatError(f"{folder / split}.json: expected a list of asin lists")
    seqs = [np.array([index[a] for a in s if a in index], dtype=np.int64) for s in raw]
    attrs = [[(k, v) for k, v in meta[a].items() if v] for a in asins]
    return [s for s in seqs if len(s)], attrs, asins
