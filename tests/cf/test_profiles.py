"""Profile-embedding sources for the alignments: RLMRec folders, the item-text stand-in's user pooling, errors."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.cf.profiles import load_profile_embeddings, user_mean_of_items
from lmrec.data.formats.rlmrec import write_rlmrec

from .cf_planted import planted_dataset


def test_user_mean_of_items_hand_computed():
    train = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0], [0, 1, 1]], dtype=np.float32))
    items = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    np.testing.assert_allclose(user_mean_of_items(train, items), [[2.0, 1.0], [0.0, 0.0], [4.0, 3.0]])


def test_rlmrec_folder_source_reads_usr_itm_emb(tmp_path):
    ds = planted_dataset()
    emb = {"user": np.random.rand(ds.n_users, 6).astype(np.float32), "item": np.random.rand(ds.n_items, 6).astype(np.float32)}
    write_rlmrec(ds, tmp_path, embeddings=emb)
    user, item = load_profile_embeddings(str(tmp_path), ds)
    np.testing.assert_allclose(user.numpy(), emb["user"])
    np.testing.assert_allclose(item.numpy(), emb["item"])


def test_mismatched_or_missing_sources_are_clear_errors(tmp_path):
    ds = planted_dataset()
    with open(tmp_path / "usr_emb_np.pkl", "wb") as fh:
        pickle.dump(np.zeros((3, 4), dtype=np.float32), fh)
    with open(tmp_path / "itm_emb_np.pkl", "wb") as fh:
        pickle.dump(np.zeros((ds.n_items, 4), dtype=np.float32), fh)
    with pytest.raises(Exception, match="usr_emb_np.pkl"):
        load_profile_embeddings(str(tmp_path), ds)
    with pytest.raises(FileNotFoundError, match="item_text"):
        load_profile_embeddings(str(tmp_path / "nope"), ds)
