"""LLMRec on a Netflix-format folder with LLMRec's feature files: the reader of those files and the one command
(``bench/llmrec_netflix.py --model llmrec --data <folder>``), on a tiny folder the test writes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.data.errors import DatasetFormatError
from lmrec.llmrec.released import released_inputs

from .scripts import load_bench_script

N_USERS, N_ITEMS = 8, 6


def write_folder(folder: Path, features: bool = True) -> Path:
    """LLMRec's layout: train_mat, train/val/test.json, and (``features``) its five feature files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    train = {u: sorted({u % N_ITEMS, (u + 1) % N_ITEMS, (u + 3) % N_ITEMS}) for u in range(N_USERS)}
    test = {u: [(u + 2) % N_ITEMS] for u in range(0, N_USERS, 2)}
    rows = [u for u, items in train.items() for _ in items]
    cols = [i for items in train.values() for i in items]
    with open(folder / "train_mat", "wb") as f:
        pickle.dump(sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(N_USERS, N_ITEMS)), f)
    for name, lists in (("train.json", train), ("val.json", test), ("test.json", test)):
        (folder / name).write_text(json.dumps({str(u): v for u, v in lists.items()}))
    if features:
        np.save(folder / "text_feat.npy", rng.normal(size=(N_ITEMS, 5)).astype(np.float32))
        np.save(folder / "image_feat.npy", rng.normal(size=(N_ITEMS, 7)).astype(np.float32))
        dump = {
            "augmented_user_init_embedding": {u: rng.normal(size=4) for u in range(N_USERS)},
            # as LLMRec's main.py reads it: {attribute: rows indexed 0..n_items-1}
            "augmented_atttribute_embedding_dict": {a: {i: rng.normal(size=3) for i in range(N_ITEMS)}
                                                    for a in ("year", "title", "director")},
            # user 3's pair names an item outside the catalogue: LLMRec skips it; users 5-7 have none
            "augmented_sample_dict": {0: (1, 4), 1: [2, 5], 2: (0, 3), 3: (N_ITEMS + 9, 0), 4: (5, 1)},
        }
        for name, obj in dump.items():
            with open(folder / name, "wb") as f:
                pickle.dump(obj, f)
    return folder


def test_released_feature_files_become_the_backbones_inputs(tmp_path):
    inputs = released_inputs(write_folder(tmp_path / "netflix"), N_USERS, N_ITEMS)
    assert inputs.user_feats["profile"].shape == (N_USERS, 4)
    assert {k: v.shape for k, v in inputs.item_feats.items()} == {
        "image_feat": (N_ITEMS, 7), "text_feat": (N_ITEMS, 5), "attr_director": (N_ITEMS, 3),
        "attr_title": (N_ITEMS, 3), "attr_year": (N_ITEMS, 3)}
    assert inputs.item_families == {"image_feat": "text", "text_feat": "text", "attr_director": "attribute",
                                    "attr_title": "attribute", "attr_year": "attribute"}
    pos, neg = inputs.aug_pairs
    assert pos.tolist() == [1, 2, 0, -1, 5, -1, -1, -1] and neg.tolist() == [4, 5, 3, -1, 1, -1, -1, -1]


def test_missing_or_bad_feature_files_are_named(tmp_path):
    plain = write_folder(tmp_path / "plain", features=False)
    with pytest.raises(FileNotFoundError, match="augmented_sample_dict"):
        released_inputs(plain, N_USERS, N_ITEMS)
    bad = write_folder(tmp_path / "bad")
    np.save(bad / "text_feat.npy", np.zeros((N_ITEMS + 1, 5), dtype=np.float32))
    with pytest.raises(DatasetFormatError, match="text_feat.npy.*7 rows, expected 6"):
        released_inputs(bad, N_USERS, N_ITEMS)
    bad = write_folder(tmp_path / "bad_attr")
    with open(bad / "augmented_atttribute_embedding_dict", "wb") as f:
        pickle.dump({"year": {i: np.ones(3) for i in range(N_ITEMS - 1)}}, f)
    with pytest.raises(DatasetFormatError, match="attribute 'year' has 5 rows"):
        released_inputs(bad, N_USERS, N_ITEMS)
    bad = write_folder(tmp_path / "bad_pairs")
    with open(bad / "augmented_sample_dict", "wb") as f:
        pickle.dump({N_USERS + 2: (0, 1)}, f)
    with pytest.raises(DatasetFormatError, match="user id 10 outside"):
        released_inputs(bad, N_USERS, N_ITEMS)


def test_the_one_command_trains_llmrec_and_records_its_row(tmp_path):
    bench = load_bench_script("llmrec_netflix")
    folder = write_folder(tmp_path / "netflix")
    out = tmp_path / "llmrec.json"
    record = bench.main(["--model", "llmrec", "--data", str(folder), "--epochs", "2", "--eval-every", "1",
                         "--batch-size", "8", "--dim", "8", "--device", "cpu", "--out", str(out),
                         "--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet"])
    saved = json.loads(out.read_text())
    assert saved["rows"]["LLMRec"]["metrics"] == record["test"] and "recall@20" in record["test"]
    assert saved["train"]["epochs_run"] == 2 and saved["what"].startswith("LLMRec")
    plain = bench.main(["--model", "mf", "--data", str(folder), "--epochs", "1", "--eval-every", "1",
                        "--batch-size", "8", "--dim", "8", "--device", "cpu", "--out", str(tmp_path / "mf.json"),
                        "--checkpoint-dir", str(tmp_path / "ckpt_mf"), "--quiet"])
    assert list(plain["rows"]) == ["MF-BPR"]
