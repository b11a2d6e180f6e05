"""LLMRec (HKUDS/LLMRec, arXiv 2311.00423) on-disk format.

``train_mat``: pickled scipy CSR users x items (no extension); ``train.json``, ``val.json``,
``test.json``: ``{"<uid>": [item ids]}``. LLMRec's loader takes ``n_users`` = max uid + 1 of train.json and
``n_items`` from ``text_feat.npy`` rows; here the shape of ``train_mat`` is authoritative (checked against
the JSON files). Optional feature files, listed in ``meta["extras"]`` and read with
:func:`read_llmrec_features`: ``image_feat.npy`` / ``text_feat.npy`` (item x dim), and the LLM augmentation
pickles ``augmented_user_init_embedding`` (user profiles' embeddings), ``augmented_atttribute_embedding_dict``
(item attributes' embeddings; the name's spelling is the original's) and ``augmented_sample_dict``
(LLM-picked implicit-feedback pairs).

In the published Netflix split ``val.json`` and ``test.json`` are identical: the loader says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import InteractionDataset
from ..errors import DatasetFormatError
from ._common import (
    as_binary_csr,
    build,
    check_array,
    check_id_lists,
    dump_json,
    dump_pickle,
    frame_from_lists,
    lists_from_dataset,
    load_json,
    load_pickle,
)

SPLIT_FILES = {"train": "train.json", "valid": "val.json", "test": "test.json"}
FEATURE_FILES = ("image_feat.npy", "text_feat.npy")
# the files a folder must hold, and what each holds (checked by ``formats.check_folder`` before any reading)
REQUIRED_FILES = {name: "{user id: [item ids]}" for name in SPLIT_FILES.values()}
AUGMENTATION_FILES = ("augmented_user_init_embedding", "augmented_atttribute_embedding_dict", "augmented_sample_dict")


def read_llmrec(folder: Path) -> InteractionDataset:
    """Read an LLMRec dataset folder."""
    folder = Path(folder)
    mat_path = folder / "train_mat"
    train_mat = as_binary_csr(load_pickle(mat_path, "the pickled training matrix (users x items)"), mat_path) \
        if mat_path.exists() else None
    raw = {split: load_json(folder / name, REQUIRED_FILES[name]) for split, name in SPLIT_FILES.items()}
    n_items = train_mat.shape[1] if train_mat is not None else None
    if n_items is None and (folder / "text_feat.npy").exists():  # LLMRec sizes the catalogue by its text features
        try:
            n_items = int(np.load(folder / "text_feat.npy", mmap_mode="r").shape[0])
        except Exception as err:
            raise DatasetFormatError(f"{folder / 'text_feat.npy'}: not a NumPy .npy array ({err}); expected item features [n_items, dim]") from err
    lists = {split: check_id_lists(raw[split], folder / SPLIT_FILES[split], n_items) for split in SPLIT_FILES}
    if train_mat is not None:
        n_users = train_mat.shape[0]
        for split, path in SPLIT_FILES.items():
            if lists[split] and max(lists[split]) >= n_users:
                raise DatasetFormatError(f"{folder / path}: user id {max(lists[split])} >= n_users={n_users} (rows of train_mat)")
        from_json = frame_from_lists({"train": lists["train"]})
        coo = train_mat.tocoo()
        if set(zip(from_json["user"].tolist(), from_json["item"].tolist())) != set(zip(coo.row.tolist(), coo.col.tolist())):
            raise DatasetFormatError(f"{folder / 'train.json'}: its pairs differ from those of {mat_path}; the two must hold the same training interactions")
    else:
        n_users = 1 + max((u for s in SPLIT_FILES for u in lists[s]), default=-1)
        n_items = n_items or 1 + max((max(v) for s in SPLIT_FILES for v in lists[s].values() if v), default=-1)
    notes = []
    n_pairs = sum(len(v) for v in lists["test"].values())
    if n_pairs and raw["valid"] == raw["test"]:
        notes.append(f"val.json and test.json are identical ({n_pairs:,} pairs): model selection and the test score "
                     "use the same interactions, as in the published split")
    extras = {name: name for name in (*FEATURE_FILES, *AUGMENTATION_FILES) if (folder / name).exists()}
    return build(folder.name, frame_from_lists(lists), n_users, n_items, "llmrec", folder, notes=notes, extras=extras)


def read_llmrec_features(folder: Path, n_users: int, n_items: int) -> dict[str, object]:
    """The optional feature files present in ``folder``: arrays checked for one row per item (``*_feat.npy``)
    or per user (``augmented_user_init_embedding``); the other augmentation pickles as stored."""
    folder = Path(folder)
    out: dict[str, object] = {}
    for name in FEATURE_FILES:
        path = folder / name
        if path.exists():
            try:
                arr = np.load(path)
            except Exception as err:
                raise DatasetFormatError(f"{path}: not a NumPy .npy array ({err}); expected item features [n_items, dim]") from err
            out[name.removesuffix(".npy")] = check_array(arr, path, n_items, "item features")
    path = folder / "augmented_user_init_embedding"
    if path.exists():
        out["augmented_user_init_embedding"] = check_array(load_pickle(path, "{user id: embedding}"), path, n_users,
                                                           "augmented user-profile embeddings")
    for name in AUGMENTATION_FILES[1:]:
        if (folder / name).exists():
            out[name] = load_pickle(folder / name, "an LLMRec augmentation pickle")
    return out


def write_llmrec(dataset: InteractionDataset, folder: Path, features: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``dataset`` in LLMRec's layout (train.json lists every user, as the release does)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dump_pickle(dataset.matrix("train").astype(np.float64), folder / "train_mat")
    for split, name in SPLIT_FILES.items():
        lists = lists_from_dataset(dataset, split)
        users = range(dataset.n_users) if split == "train" else sorted(lists)
        dump_json({str(u): lists.get(u, []) for u in users}, folder / name)
    for name, arr in (features or {}).items():
        np.save(folder / f"{name}.npy", np.asarray(arr))
    return folder
