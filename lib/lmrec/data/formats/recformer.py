"""Recformer (AaronHeee/RecFormer, arXiv 2305.13731) / LEARN on-disk format.

``smap.json`` ``{asin: item id}`` and ``umap.json`` ``{reviewer id: user id}`` (ids 0..n-1);
``train.json`` ``{"<uid>": [item ids in time order]}``; ``val.json`` / ``test.json`` ``{"<uid>": [one id]}``
(leave-one-out by time; users with fewer than three interactions have no val/test entry);
``meta_data.json`` ``{asin: {"title", "brand", "category"}}`` gives the item "sentences". Variant: instead of
``meta_data.json`` an ``item_text.tsv`` (RecBole-style header ``item_id:token``, ``text:token_seq``; one
text per asin) as in ``shared/data/recformer_scientific``. Items without metadata get empty text (the
count is reported). Repeated items in a sequence are kept (the interaction count is sequence length).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ...utils import atomic_path
from ..dataset import InteractionDataset
from ..errors import DatasetFormatError
from ._common import (
    build,
    check_id_lists,
    dump_json,
    frame_from_lists,
    lists_from_dataset,
    load_json,
    require,
)

SPLIT_FILES = {"train": "train.json", "valid": "val.json", "test": "test.json"}
META_FIELDS = ("title", "brand", "category")
# the files a folder must hold, and what each holds (checked by ``formats.check_folder`` before any reading)
REQUIRED_FILES = {"smap.json": "{raw item id: int id}", "umap.json": "{raw user id: int id}",
                  **{name: "{user id: [item ids]}" for name in SPLIT_FILES.values()}}


def _id_map(path: Path, kind: str) -> np.ndarray:
    """Inverse of an ``{raw id: int id}`` map: raw ids indexed by int id (which must be 0..n-1)."""
    obj = load_json(path, f"{{raw {kind} id: int id}}")
    if not isinstance(obj, Mapping) or not obj:
        raise DatasetFormatError(f"{path}: expected a non-empty JSON object {{raw {kind} id: int id}}, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if isinstance(v, bool) or not isinstance(v, int)]
    if bad:
        raise DatasetFormatError(f"{path}: value of {bad[0]!r} is {obj[bad[0]]!r}; expected an integer {kind} id")
    values = sorted(obj.values())
    if values != list(range(len(values))):
        raise DatasetFormatError(f"{path}: {kind} ids must be exactly 0..{len(values) - 1} (each once), got {values[0]}..{values[-1]} with {len(values)} entries")
    raw = np.empty(len(values), dtype=object)
    for key, value in obj.items():
        raw[value] = str(key)
    return raw


def read_recformer(folder: Path) -> InteractionDataset:
    """Read a Recformer/LEARN finetune folder (``meta_data.json`` or ``item_text.tsv`` optional)."""
    folder = Path(folder)
    item_ids = _id_map(folder / "smap.json", "item")
    user_ids = _id_map(folder / "umap.json", "user")
    n_users, n_items = len(user_ids), len(item_ids)
    lists = {}
    for split, name in SPLIT_FILES.items():
        path = folder / name
        lists[split] = check_id_lists(load_json(path, REQUIRED_FILES[name]), path, n_items)
        if lists[split] and max(lists[split]) >= n_users:
            raise DatasetFormatError(f"{path}: user id {max(lists[split])} is not in umap.json ({n_users} users)")
        if split != "train":
            long = [u for u, v in lists[split].items() if len(v) != 1]
            if long:
                raise DatasetFormatError(f"{path}: user {long[0]} has {len(lists[split][long[0]])} items; leave-one-out expects exactly one")
    notes: list[str] = []
    item_text = None
    if (folder / "meta_data.json").exists():
        item_text = _meta_frame(folder / "meta_data.json", item_ids, notes)
    elif (folder / "item_text.tsv").exists():
        item_text = _tsv_frame(folder / "item_text.tsv", item_ids, notes)
    else:
        notes.append("no meta_data.json or item_text.tsv: items have no text")
    dataset = build(folder.name, frame_from_lists(lists), n_users, n_items, "recformer", folder,
                    user_ids=user_ids, item_ids=item_ids, item_text=item_text, notes=notes)
    if any(dataset.meta["held_out_in_train"].values()):
        dataset.meta["notes"].append("Recformer's own evaluation (utils.Ranker) ranks all items without masking the "
                                     "user's history, so repeated items can be hit there")
    return dataset


def _meta_frame(path: Path, item_ids: np.ndarray, notes: list[str]) -> pd.DataFrame:
    meta = load_json(path, "{asin: {'title', 'brand', 'category'}}")
    if not isinstance(meta, Mapping):
        raise DatasetFormatError(f"{path}: expected a JSON object {{asin: {{title, brand, category}}}}, got {type(meta).__name__}")
    rows, missing = [], 0
    for asin in item_ids:
        attrs = meta.get(asin)
        if attrs is None:
            missing += 1
            attrs = {}
        elif not isinstance(attrs, Mapping):
            raise DatasetFormatError(f"{path}: entry {asin!r} must be an object of attributes (title, brand, category), got {type(attrs).__name__}")
        rows.append([_text(attrs.get(f, "")) for f in META_FIELDS])
    if missing:
        notes.append(f"meta_data.json covers {len(item_ids) - missing:,} of {len(item_ids):,} items; the rest have empty text")
    return pd.DataFrame(rows, columns=list(META_FIELDS))


def _text(value) -> str:
    if isinstance(value, list):  # raw Amazon metadata keeps categories as a list
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _tsv_frame(path: Path, item_ids: np.ndarray, notes: list[str]) -> pd.DataFrame:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({err}); expected a tab-separated item_id<TAB>text table") from err
    header = [c.split(":")[0] for c in lines[0].split("\t")] if lines else []
    if not {"item_id", "text"} <= set(header):
        raise DatasetFormatError(f"{path}: header must name the columns item_id and text (RecBole style item_id:token, text:token_seq), got {header}")
    i_id, i_text = header.index("item_id"), header.index("text")
    texts = {}
    for n, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DatasetFormatError(f"{path}: line {n} has {len(fields)} tab-separated fields, the header {len(header)}; "
                                     "expected one item_id<TAB>text row per item")
        texts[fields[i_id]] = fields[i_text].strip()
    covered = sum(asin in texts for asin in item_ids)
    notes.append(f"item_text.tsv covers {covered:,} of {len(item_ids):,} items; the rest have empty text")
    return pd.DataFrame({"text": [texts.get(asin, "") for asin in item_ids]})


def write_recformer(dataset: InteractionDataset, folder: Path, text_variant: str = "meta_data") -> Path:
    """Write ``dataset`` in Recformer's layout. Item text: ``meta_data.json`` from the title/brand/category
    columns of ``item_text`` (``text_variant="meta_data"``) or ``item_text.tsv`` from its ``text`` column
    (``"tsv"``); nothing when the dataset has no item text."""
    if text_variant not in ("meta_data", "tsv"):
        raise ValueError(f"text_variant={text_variant!r}; use 'meta_data' or 'tsv'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dump_json({str(raw): i for i, raw in enumerate(dataset.item_ids)}, folder / "smap.json")
    dump_json({str(raw): i for i, raw in enumerate(dataset.user_ids)}, folder / "umap.json")
    for split, name in SPLIT_FILES.items():
        dump_json({str(u): v for u, v in lists_from_dataset(dataset, split).items()}, folder / name)
    text = dataset.item_text
    if text is not None and text_variant == "meta_data":
        cols = [c for c in META_FIELDS if c in text.columns]
        meta = {str(raw): {c: str(text[c].iloc[i]) for c in cols} for i, raw in enumerate(dataset.item_ids)
                if any(str(text[c].iloc[i]) for c in cols)}
        dump_json(meta, folder / "meta_data.json")
    elif text is not None and "text" in text.columns:
        clean = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
        rows = [f"{raw}\t{str(t).translate(clean).strip()}" for raw, t in zip(dataset.item_ids, text["text"]) if str(t).strip()]
        with atomic_path(folder / "item_text.tsv") as tmp:  # tabs/newlines inside a text become spaces
            tmp.write_text("\n".join(["item_id:token\ttext:token_seq", *rows]) + "\n", encoding="utf-8")
    require(folder / "train.json", "the written train.json")
    return folder
