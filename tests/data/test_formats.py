"""Format readers/writers on tiny files written by the tests: round trips, side files, and one clear
DatasetFormatError (naming the file and what was expected) per kind of malformation."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmrec.data import DatasetFormatError, InteractionDataset, formats, make_interactions

# user, item, split (rows of one user in time order)
ROWS = [(0, 0, "train"), (0, 2, "train"), (0, 1, "valid"), (0, 3, "test"),
        (1, 1, "train"), (1, 3, "train"), (1, 1, "train"), (1, 0, "valid"), (1, 2, "test"),
        (2, 2, "train"), (2, 4, "train"), (2, 0, "valid"), (2, 1, "test"),
        (3, 4, "train")]


def tiny(with_text: bool = True) -> InteractionDataset:
    user, item, split = map(np.array, zip(*ROWS))
    text = pd.DataFrame({"title": [f"t{i}" for i in range(5)], "brand": ["b"] * 5, "category": ["c x"] * 5}) if with_text else None
    return InteractionDataset(name="tiny", interactions=make_interactions(user, item, split.astype(object)), n_users=4,
                              n_items=5, user_ids=np.array([f"U{i}" for i in range(4)], dtype=object),
                              item_ids=np.array([f"A{i}" for i in range(5)], dtype=object), item_text=text)


def same_matrices(a: InteractionDataset, b: InteractionDataset) -> None:
    assert (a.n_users, a.n_items) == (b.n_users, b.n_items)
    for split in ("train", "valid", "test"):
        assert (a.matrix(split) != b.matrix(split)).nnz == 0, split


@pytest.mark.parametrize("fmt", ["rlmrec", "cllm4rec", "llmrec", "recformer"])
def test_write_then_read_gives_the_same_split_matrices(fmt, tmp_path):
    ds = tiny()
    back = formats.read_format(fmt, formats.write_format(fmt, ds, tmp_path), verbose=False)
    same_matrices(ds, back)
    assert back.split_protocol == "given" and back.meta["format"] == fmt


@pytest.mark.parametrize("fmt", ["llmrec", "recformer"])
def test_list_formats_keep_sequence_order_and_repeats(fmt, tmp_path):
    ds = tiny()
    back = formats.read_format(fmt, formats.write_format(fmt, ds, tmp_path), verbose=False)
    assert [s.tolist() for s in back.sequences(("train", "valid", "test"))] == [[0, 2, 1, 3], [1, 3, 1, 0, 2], [2, 4, 0, 1], [4]]


def test_recformer_round_trip_keeps_raw_ids_and_item_text(tmp_path):
    ds = tiny()
    back = formats.read_format("recformer", formats.write_format("recformer", ds, tmp_path), verbose=False)
    assert back.user_ids.tolist() == ds.user_ids.tolist() and back.item_ids.tolist() == ds.item_ids.tolist()
    pd.testing.assert_frame_equal(back.item_text, ds.item_text)
    assert json.loads((tmp_path / "meta_data.json").read_text())["A3"] == {"title": "t3", "brand": "b", "category": "c x"}


def test_recformer_tsv_variant_and_missing_text_are_reported(tmp_path, capsys):
    ds = tiny(with_text=False)
    ds.item_text = pd.DataFrame({"text": ["one", "", "three", "", ""]})
    formats.write_format("recformer", ds, tmp_path, text_variant="tsv")
    back = formats.read_format("recformer", tmp_path)
    assert back.item_text["text"].tolist() == ["one", "", "three", "", ""]
    assert "item_text.tsv covers 2 of 5 items" in capsys.readouterr().out


def test_recformer_meta_data_with_category_list_and_missing_items(tmp_path, capsys):
    formats.write_format("recformer", tiny(with_text=False), tmp_path)
    (tmp_path / "meta_data.json").write_text(json.dumps({"A0": {"title": "Glue", "brand": "G", "category": ["Tapes", "Glue"]}}))
    back = formats.read_format("recformer", tmp_path)
    assert back.item_text.iloc[0].tolist() == ["Glue", "G", "Tapes Glue"] and back.item_text.iloc[1].tolist() == ["", "", ""]
    assert "covers 1 of 5 items" in capsys.readouterr().out


def test_rlmrec_profiles_and_embeddings_round_trip(tmp_path):
    ds = tiny(with_text=False)
    ds.user_attrs = pd.DataFrame({"profile": [f"likes {i}" for i in range(4)], "reasoning": ["because"] * 4})
    ds.item_text = pd.DataFrame({"profile": [f"item {i}" for i in range(5)], "reasoning": ["r"] * 5})
    emb = {"user": np.arange(8, dtype=np.float32).reshape(4, 2), "item": np.ones((5, 2), dtype=np.float32)}
    formats.write_format("rlmrec", ds, tmp_path, embeddings=emb)
    assert pickle.loads((tmp_path / "usr_prf.pkl").read_bytes())[2] == {"profile": "likes 2", "reasoning": "because"}
    back = formats.read_format("rlmrec", tmp_path, verbose=False)
    pd.testing.assert_frame_equal(back.user_attrs, ds.user_attrs)
    pd.testing.assert_frame_equal(back.item_text, ds.item_text)
    assert back.meta["extras"] == {"user_embeddings": "usr_emb_np.pkl", "item_embeddings": "itm_emb_np.pkl"}
    got = formats.read_rlmrec_embeddings(tmp_path)
    assert np.array_equal(got["user"], emb["user"]) and got["item"].shape == (5, 2)


def test_rlmrec_profiles_are_placed_by_id_whatever_the_pickles_key_order(tmp_path):
    """RLMRec's profile pickles are dicts keyed by node id; a dict stored out of order, or missing an id, still
    puts each profile on its own row (a missing id gets an empty profile)."""
    formats.write_format("rlmrec", tiny(with_text=False), tmp_path)
    shuffled = {3: {"profile": "u3", "reasoning": "r3"}, 0: {"profile": "u0", "reasoning": "r0"},
                2: {"profile": "u2", "reasoning": "r2"}}  # user 1 missing
    (tmp_path / "usr_prf.pkl").write_bytes(pickle.dumps(shuffled))
    back = formats.read_format("rlmrec", tmp_path, verbose=False)
    assert back.user_attrs["profile"].tolist() == ["u0", "", "u2", "u3"]
    assert back.user_attrs["reasoning"].tolist() == ["r0", "", "r2", "r3"]


def test_rlmrec_reads_a_pickle_written_by_old_scipy(tmp_path):
    """scipy < 1.8 pickled coo_matrix as ``scipy.sparse.coo`` with row/col/_shape in its __dict__."""
    formats.write_format("rlmrec", tiny(), tmp_path)
    train = sp.coo_matrix(tiny().train, dtype=np.float64)

    class OldCoo:
        def __reduce__(self):
            import copyreg
            state = {"data": train.data, "row": train.row.astype(np.int32), "col": train.col.astype(np.int32),
                     "_shape": train.shape, "maxprint": 50, "has_canonical_format": False}
            return copyreg._reconstructor, (sp.coo_matrix, object, None), state

    blob = pickle.dumps(OldCoo(), protocol=0)
    module = sp.coo_matrix.__module__.encode()
    assert module in blob
    blob = blob.replace(module + b"\n", b"scipy.sparse.coo\n")
    (tmp_path / "trn_mat.pkl").write_bytes(blob)
    back = formats.read_format("rlmrec", tmp_path, verbose=False)
    assert (back.train != tiny().train).nnz == 0


def test_cllm4rec_reviews_parse_user_and_item_tokens(tmp_path):
    reviews = pd.DataFrame({"prompt": ["user_1 wrote the following review for item_3:", "item_4 is described as:"],
                            "text": ["great", "a lamp"]})
    formats.write_format("cllm4rec", tiny(), tmp_path, reviews=reviews)
    ds = formats.read_format("cllm4rec", tmp_path, verbose=False)
    assert ds.meta["extras"] == {"reviews": "user_item_texts/review.pkl"}
    got = formats.read_cllm4rec_reviews(tmp_path, ds.n_users, ds.n_items)
    assert got[["user", "item", "text"]].values.tolist() == [[1, 3, "great"], [-1, 4, "a lamp"]]
    with pytest.raises(DatasetFormatError, match="entry 0 names item_3 but meta.pkl has num_items=3"):
        formats.read_cllm4rec_reviews(tmp_path, 4, 3)


def test_llmrec_feature_files_are_checked_per_item(tmp_path):
    formats.write_format("llmrec", tiny(), tmp_path, features={"text_feat": np.zeros((5, 3)), "image_feat": np.ones((5, 2))})
    ds = formats.read_format("llmrec", tmp_path, verbose=False)
    assert set(ds.meta["extras"]) == {"text_feat.npy", "image_feat.npy"}
    feats = formats.read_llmrec_features(tmp_path, ds.n_users, ds.n_items)
    assert feats["text_feat"].shape == (5, 3) and feats["image_feat"].shape == (5, 2)
    np.save(tmp_path / "text_feat.npy", np.zeros((4, 3)))
    with pytest.raises(DatasetFormatError, match=r"text_feat.npy: has 4 rows, expected 5"):
        formats.read_llmrec_features(tmp_path, ds.n_users, ds.n_items)


def test_llmrec_without_train_mat_sizes_from_the_json_files(tmp_path):
    formats.write_format("llmrec", tiny(), tmp_path)
    (tmp_path / "train_mat").unlink()
    ds = formats.read_format("llmrec", tmp_path, verbose=False)
    assert (ds.n_users, ds.n_items) == (4, 5)
    same_matrices(tiny(), ds)


# ------------------------------------------------------------------ malformed folders
def _pickle(obj, path):
    path.write_bytes(pickle.dumps(obj))


def _written(fmt, tmp_path):
    formats.write_format(fmt, tiny(), tmp_path)
    return tmp_path


MALFORMED = {
    # name: (format, how to break the folder, pattern the message must contain)
    "rlmrec missing file": ("rlmrec", lambda d: (d / "val_mat.pkl").unlink(), r"val_mat.pkl: missing; expected the valid matrix"),
    "rlmrec not a pickle": ("rlmrec", lambda d: (d / "trn_mat.pkl").write_text("hello"), r"trn_mat.pkl: cannot be unpickled"),
    "rlmrec dict instead of matrix": ("rlmrec", lambda d: _pickle({"a": 1}, d / "trn_mat.pkl"),
                                      r"trn_mat.pkl: expected a scipy sparse matrix of shape \(n_users, n_items\), got dict"),
    "rlmrec shape mismatch": ("rlmrec", lambda d: _pickle(sp.coo_matrix((4, 6)), d / "tst_mat.pkl"),
                              r"tst_mat.pkl: shape \(4, 6\) does not match \(4, 5\)"),
    "rlmrec NaN values": ("rlmrec", lambda d: _pickle(sp.coo_matrix(np.full((4, 5), np.nan)), d / "val_mat.pkl"),
                          r"val_mat.pkl: matrix values must be finite"),
    "rlmrec profile lacks field": ("rlmrec", lambda d: _pickle({0: {"text": "x"}}, d / "usr_prf.pkl"),
                                   r"usr_prf.pkl: entry 0 lacks the field 'profile'"),
    "rlmrec profile id out of range": ("rlmrec", lambda d: _pickle({9: {"profile": "x"}}, d / "itm_prf.pkl"),
                                       r"itm_prf.pkl: id 9 outside \[0, 5\)"),
    "rlmrec profiles not a dict": ("rlmrec", lambda d: _pickle(["x"], d / "usr_prf.pkl"), r"usr_prf.pkl: expected a dict"),
    "cllm4rec meta missing key": ("cllm4rec", lambda d: _pickle({"num_users": 4}, d / "meta.pkl"),
                                  r"meta.pkl: field 'num_items' must be a positive int, got None"),
    "cllm4rec meta not a dict": ("cllm4rec", lambda d: _pickle([4, 5], d / "meta.pkl"), r"meta.pkl: expected a dict"),
    "cllm4rec npz unreadable": ("cllm4rec", lambda d: (d / "val_matrix.npz").write_bytes(b"PK\x03\x04junk"),
                                r"val_matrix.npz: cannot be read by scipy.sparse.load_npz"),
    "cllm4rec shape vs meta": ("cllm4rec", lambda d: _pickle({"num_users": 5, "num_items": 5}, d / "meta.pkl"),
                               r"train_matrix.npz: shape \(4, 5\) does not match \(5, 5\)"),
    "cllm4rec missing test": ("cllm4rec", lambda d: (d / "test_matrix.npz").unlink(), r"test_matrix.npz: missing"),
    "recformer bad json": ("recformer", lambda d: (d / "train.json").write_text("{"), r"train.json: not valid JSON"),
    "recformer list not dict": ("recformer", lambda d: (d / "val.json").write_text("[1, 2]"),
                                r"val.json: expected a JSON object \{user id: \[item ids\]\}, got list"),
    "recformer non-int user key": ("recformer", lambda d: (d / "train.json").write_text('{"alice": [1]}'),
                                   r"train.json: key 'alice' is not an integer user id"),
    "recformer item beyond smap": ("recformer", lambda d: (d / "test.json").write_text('{"0": [7]}'),
                                   r"test.json: user '0' has item id 7 >= n_items=5"),
    "recformer string items": ("recformer", lambda d: (d / "train.json").write_text('{"0": ["A1"]}'),
                               r"train.json: value of user '0' must be a list of integer item ids"),
    "recformer two test items": ("recformer", lambda d: (d / "test.json").write_text('{"0": [1, 2]}'),
                                 r"test.json: user 0 has 2 items; leave-one-out expects exactly one"),
    "recformer smap gap": ("recformer", lambda d: (d / "smap.json").write_text('{"A": 0, "B": 2}'),
                           r"smap.json: item ids must be exactly 0..1"),
    "recformer user beyond umap": ("recformer", lambda d: (d / "train.json").write_text('{"9": [1]}'),
                                   r"train.json: user id 9 is not in umap.json \(4 users\)"),
    "recformer tsv header": ("recformer", lambda d: (d / "item_text.tsv").write_text("asin\tdesc\nA1\tx\n"),
                             r"item_text.tsv: header must name the columns item_id and text"),
    "recformer tsv ragged": ("recformer", lambda d: (d / "item_text.tsv").write_text("item_id:token\ttext:token_seq\nA1\tx\ty\tz\n"),
                             r"item_text.tsv: line 2 has 4 tab-separated fields, the header 2"),
    "recformer meta entry": ("recformer", lambda d: (d / "meta_data.json").write_text('{"A1": "a string"}'),
                             r"meta_data.json: entry 'A1' must be an object of attributes"),
    "llmrec train_mat wrong type": ("llmrec", lambda d: _pickle(np.zeros((4, 5)), d / "train_mat"),
                                    r"train_mat: expected a scipy sparse matrix .* got ndarray"),
    "llmrec json disagrees with matrix": ("llmrec", lambda d: (d / "train.json").write_text('{"0": [4]}'),
                                          r"train.json: its pairs differ from those of .*train_mat"),
    "llmrec negative item": ("llmrec", lambda d: (d / "val.json").write_text('{"0": [-1]}'),
                             r"val.json: user '0' has a negative item id -1"),
    "llmrec user beyond matrix": ("llmrec", lambda d: (d / "test.json").write_text('{"12": [1]}'),
                                  r"test.json: user id 12 >= n_users=4"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_folder_gets_a_clear_error(case, tmp_path):
    fmt, corrupt, pattern = MALFORMED[case]
    folder = _written(fmt, tmp_path)
    if case.startswith("recformer tsv"):
        (folder / "meta_data.json").unlink()
    corrupt(folder)
    with pytest.raises(DatasetFormatError, match=pattern):
        formats.read_format(fmt, folder, verbose=False)


def test_unknown_format_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format 'bogus'"):
        formats.read_format("bogus", tmp_path)
    with pytest.raises(DatasetFormatError, match="not a folder"):
        formats.read_format("rlmrec", tmp_path / "nope")


def test_rlmrec_embeddings_wrong_rows(tmp_path):
    formats.write_format("rlmrec", tiny(), tmp_path)
    _pickle(np.zeros((3, 2)), tmp_path / "usr_emb_np.pkl")
    _pickle(np.zeros((5, 2)), tmp_path / "itm_emb_np.pkl")
    with pytest.raises(DatasetFormatError, match=r"usr_emb_np.pkl: has 3 rows, expected 4"):
        formats.read_rlmrec_embeddings(tmp_path)


def test_held_out_items_already_in_training_are_counted_and_noted(tmp_path, capsys):
    formats.write_format("recformer", tiny(with_text=False), tmp_path)
    (tmp_path / "test.json").write_text('{"0": [0], "1": [2], "2": [4]}')  # user 0 and user 2 trained on 0 / 4
    ds = formats.read_format("recformer", tmp_path)
    assert ds.meta["held_out_in_train"] == {"valid": 0, "test": 2}
    assert "0 valid and 2 test (user, item) pairs also occur in training" in capsys.readouterr().out
    clean = formats.read_format("rlmrec", formats.write_format("rlmrec", tiny(), tmp_path / "r"), verbose=False)
    assert clean.meta["held_out_in_train"] == {"valid": 0, "test": 0} and clean.meta["notes"] == []


def test_llmrec_augmentation_pickles(tmp_path):
    formats.write_format("llmrec", tiny(), tmp_path)
    user_emb = {u: np.full(3, float(u)) for u in range(4)}
    _pickle(user_emb, tmp_path / "augmented_user_init_embedding")
    _pickle({0: [1, 2]}, tmp_path / "augmented_sample_dict")
    ds = formats.read_format("llmrec", tmp_path, verbose=False)
    assert {"augmented_user_init_embedding", "augmented_sample_dict"} <= set(ds.meta["extras"])
    feats = formats.read_llmrec_features(tmp_path, ds.n_users, ds.n_items)
    assert feats["augmented_user_init_embedding"][:, 0].tolist() == [0, 1, 2, 3]
    assert feats["augmented_sample_dict"] == {0: [1, 2]}
    del user_emb[3]
    _pickle(user_emb, tmp_path / "augmented_user_init_embedding")
    with pytest.raises(DatasetFormatError, match="augmented_user_init_embedding: has 3 rows, expected 4"):
        formats.read_llmrec_features(tmp_path, ds.n_users, ds.n_items)
