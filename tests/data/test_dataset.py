"""InteractionDataset: derived views (matrices, sequences, texts, stats) and the save/load round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data import DatasetFormatError, InteractionDataset, make_interactions


def sample() -> InteractionDataset:
    inter = make_interactions(np.array([0, 0, 0, 1, 1, 2]), np.array([2, 0, 1, 1, 1, 3]),
                              np.array(["train", "train", "test", "train", "valid", "train"], dtype=object),
                              rating=np.array([5, 4, 3, 2, 1, 5.0]), timestamp=np.array([1, 2, 3, 1, np.nan, 7.0]))
    text = pd.DataFrame({"title": ["A", "B", "C", "D"], "year": ["1995", "", "2001", "1980"], "genres": ["x", "y", "", "z w"]})
    users = pd.DataFrame({"age": ["24", "53", "23"], "gender": ["M", "F", "M"], "occupation": ["a", "b", "c\tq"]})
    return InteractionDataset(name="s", interactions=inter, n_users=3, n_items=4, user_ids=np.array(["u1", "u2", "u3"], dtype=object),
                              item_ids=np.array(["10", "20", "30", "40"], dtype=object), item_text=text, user_attrs=users,
                              split_protocol="rlmrec", meta={"seed": 1, "notes": ["x"]})


def test_matrices_are_binary_and_per_split():
    ds = sample()
    assert ds.train.toarray().tolist() == [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    assert ds.valid.nnz == 1 and ds.test.nnz == 1
    assert ds.matrix(("train", "valid"))[1, 1] == 1.0  # duplicate (1, 1) counted once


def test_sequences_keep_row_order():
    ds = sample()
    assert [s.tolist() for s in ds.sequences()] == [[2, 0], [1], [3]]
    assert [s.tolist() for s in ds.sequences(("train", "valid", "test"))] == [[2, 0, 1], [1, 1], [3]]


def test_item_texts_and_stats():
    ds = sample()
    assert ds.item_texts()[1] == "title: B, genres: y"
    s = ds.stats()
    assert (s["n_train"], s["n_valid"], s["n_test"], s["n_interactions"]) == (4, 1, 1, 6)
    assert s["density"] == pytest.approx(6 / 12) and s["has_timestamps"]
    assert "3 users, 4 items, 4 / 1 / 1 train/valid/test" in ds.describe()


def test_save_load_round_trip(tmp_path):
    ds = sample()
    back = InteractionDataset.load(ds.save(tmp_path / "ds"))
    pd.testing.assert_frame_equal(back.interactions, ds.interactions)
    pd.testing.assert_frame_equal(back.item_text, ds.item_text)
    pd.testing.assert_frame_equal(back.user_attrs, ds.user_attrs)
    assert back.user_ids.tolist() == ds.user_ids.tolist() and back.item_ids.tolist() == ds.item_ids.tolist()
    assert (back.name, back.n_users, back.n_items, back.split_protocol, back.meta) == ("s", 3, 4, "rlmrec", ds.meta)
    assert (back.train != ds.train).nnz == 0


def test_saving_without_side_information_removes_stale_files(tmp_path):
    ds = sample()
    ds.save(tmp_path)
    ds.item_text = ds.user_attrs = None
    back = InteractionDataset.load(ds.save(tmp_path))
    assert back.item_text is None and back.user_attrs is None


def test_invalid_datasets_are_rejected(tmp_path):
    inter = make_interactions(np.array([0]), np.array([5]), "train")
    with pytest.raises(DatasetFormatError, match=r"item ids must lie in \[0, 4\)"):
        InteractionDataset(name="x", interactions=inter, n_users=1, n_items=4, user_ids=np.array(["a"]), item_ids=np.array(list("abcd")))
    with pytest.raises(DatasetFormatError, match="unknown split label"):
        InteractionDataset(name="x", interactions=make_interactions(np.array([0]), np.array([0]), "dev"), n_users=1, n_items=1,
                           user_ids=np.array(["a"]), item_ids=np.array(["b"]))
    with pytest.raises(DatasetFormatError, match="dataset.json: missing"):
        InteractionDataset.load(tmp_path)


def test_load_dataset_cache_is_keyed_by_every_argument(tmp_path, monkeypatch):
    """A cached split is reused only for the same split, seed, rating threshold and k-core: each argument
    alone gets its own build, and a repeat of any of them reads its own cached copy."""
    from lmrec.data import loaders

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    built = []

    def fake_build(split, seed, min_rating=0, min_user=1, min_item=1):
        built.append((split, seed, min_rating, min_user, min_item))
        n = len(built)  # the n-th build has n interactions, so each cached copy is recognisable
        return InteractionDataset(name="ml100k", interactions=make_interactions(np.zeros(n), np.arange(n), "train"),
                                  n_users=1, n_items=n, user_ids=np.array(["u"], dtype=object),
                                  item_ids=np.array([f"i{k}" for k in range(n)], dtype=object))

    monkeypatch.setattr(loaders, "build_ml100k", fake_build)
    base = {"split": "rlmrec", "seed": 1, "min_rating": 4, "min_user": 1, "min_item": 1}
    variants = [base] + [{**base, name: value} for name, value in
                         (("split", "loo_time"), ("seed", 2), ("min_rating", 3), ("min_user", 2), ("min_item", 2))]
    first = [len(loaders.load_dataset("ml100k", **v).interactions) for v in variants]
    assert first == list(range(1, len(variants) + 1)) and len(built) == len(variants)
    again = [len(loaders.load_dataset("ml100k", **v).interactions) for v in reversed(variants)]
    assert again == first[::-1] and len(built) == len(variants)  # every repeat from its own cache entry
