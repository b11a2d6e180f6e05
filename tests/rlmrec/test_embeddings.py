"""Profile-embedding sources for the alignments: RLMRec folders, the item-text stand-in's user pooling, errors."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.data.formats.rlmrec import write_rlmrec
from lmrec.rlmrec.embeddings import target_embeddings, user_mean_of_items
from tests.cf.cf_planted import planted_dataset


def test_user_mean_of_items_hand_computed():
    train = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0], [0, 1, 1]], dtype=np.float32))
    items = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    np.testing.assert_allclose(user_mean_of_items(train, items), [[2.0, 1.0], [0.0, 0.0], [4.0, 3.0]])


def test_item_text_stand_in_pools_each_users_training_items_only(monkeypatch):
    """No held-out item may shape a user's alignment target: the mean runs over the training matrix."""
    ds = planted_dataset()
    rng = np.random.default_rng(0)
    table = rng.normal(size=(ds.n_items, 5)).astype(np.float32)
    monkeypatch.setattr("lmrec.llm.embed_texts", lambda texts, cfg: table[: len(texts)])
    user, item = target_embeddings("item_text", ds)
    np.testing.assert_allclose(item.numpy(), table)
    np.testing.assert_allclose(user.numpy(), user_mean_of_items(ds.train, table), rtol=1e-6)
    held_out = ds.matrix(("valid", "test"))
    assert held_out.nnz and not np.allclose(user.numpy(), user_mean_of_items(ds.train + held_out, table))


def test_rlmrec_folder_source_reads_usr_itm_emb(tmp_path):
    ds = planted_dataset()
    emb = {"user": np.random.rand(ds.n_users, 6).astype(np.float32), "item": np.random.rand(ds.n_items, 6).astype(np.float32)}
    write_rlmrec(ds, tmp_path, embeddings=emb)
    user, item = target_embeddings(str(tmp_path), ds)
    np.testing.assert_allclose(user.numpy(), emb["user"])
    np.testing.assert_allclose(item.numpy(), emb["item"])


def test_mismatched_or_missing_sources_are_clear_errors(tmp_path):
    ds = planted_dataset()
    with open(tmp_path / "usr_emb_np.pkl", "wb") as fh:
        pickle.dump(np.zeros((3, 4), dtype=np.float32), fh)
    with open(tmp_path / "itm_emb_np.pkl", "wb") as fh:
        pickle.dump(np.zeros((ds.n_items, 4), dtype=np.float32), fh)
    with pytest.raises(Exception, match="usr_emb_np.pkl"):
        target_embeddings(str(tmp_path), ds)
    with pytest.raises(FileNotFoundError, match="item_text"):
        target_embeddings(str(tmp_path / "nope"), ds)


def test_failed_profiles_are_read_as_masks_from_the_profile_files(tmp_path):
    """A fallback stand-in (what notebook 01 stores for a failed profile) is not a generated profile."""
    from lmrec.rlmrec.embeddings import coverage_text, target_masks
    from lmrec.rlmrec.profiles import FALLBACK_REASONING

    ds = planted_dataset()
    failed_users, failed_items = {1, 4}, {0}
    users = {u: {"profile": f"user {u}", "reasoning": FALLBACK_REASONING if u in failed_users else "r"}
             for u in range(ds.n_users)}
    items = {i: {"profile": f"item {i}", "reasoning": FALLBACK_REASONING if i in failed_items else "r"}
             for i in range(ds.n_items)}
    for name, obj in (("usr_prf.pkl", users), ("itm_prf.pkl", items)):
        with open(tmp_path / name, "wb") as fh:
            pickle.dump(obj, fh)
    um, im = target_masks(str(tmp_path), ds)
    assert [u for u in range(ds.n_users) if not um[u]] == [1, 4]
    assert [i for i in range(ds.n_items) if not im[i]] == [0]
    # no profile files (e.g. embeddings only) or the item-text stand-in: nothing to mask
    um, im = target_masks(str(tmp_path / "empty"), ds)
    assert bool(um.all()) and bool(im.all())
    um, im = target_masks("item_text", ds)
    assert bool(um.all()) and bool(im.all())
    text = coverage_text(78, 942, 1682, 1682)
    assert "78 of 942 users (8%)" in text and "masked out" in text
    assert "masked" not in coverage_text(5, 5, 3, 3)


def test_generated_source_masks_the_profiles_notebook_01_could_not_make(monkeypatch):
    """Notebook 01 -> 02 -> the CF notebooks: a failed user profile (stored as its fallback) is masked."""
    from lmrec.llm.chat import StageStats
    from lmrec.llm.embed import EmbedConfig
    from lmrec.rlmrec.embeddings import target_masks
    from lmrec.rlmrec.profiles import (
        ProfileBatch,
        ProfileConfig,
        dataset_key,
        embed_profiles,
        fallback_profiles,
        profiles_folder,
        write_profiles,
    )

    ds = planted_dataset()
    monkeypatch.setattr("lmrec.rlmrec.profiles.embed_texts",
                        lambda texts, cfg, **kw: np.random.default_rng(0).normal(size=(len(texts), 4)))
    cfg = ProfileConfig()
    users = ProfileBatch({u: {"profile": f"user {u}", "reasoning": "r"} for u in range(ds.n_users) if u % 4},
                       [], StageStats())
    items = ProfileBatch({i: {"profile": f"item {i}", "reasoning": "r"} for i in range(ds.n_items)}, [], StageStats())
    folder = profiles_folder(ds, {"test": dataset_key(ds)}, cfg)
    write_profiles(folder, fallback_profiles(ds, items, "item", ds.n_items, cfg),
                   fallback_profiles(ds, users, "user", ds.n_users, cfg), [], {})
    embed_profiles(folder, EmbedConfig(), ds, progress=False)
    um, im = target_masks("generated", ds)
    assert um.tolist() == [bool(u % 4) for u in range(ds.n_users)] and bool(im.all())
