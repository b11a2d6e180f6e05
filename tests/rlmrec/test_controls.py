"""RLMRec's alignment targets from three sources (issue 24 part 4): the LLM profiles (generated), the nodes' own text
with no LLM (raw), the generated vectors shuffled across nodes; same shape and coverage, different targets."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lmrec.cf.notebook import CFSpec
from lmrec.llm.controls import cycle_permutation
from lmrec.paths import stage_dir, write_pointer
from lmrec.rlmrec.embeddings import control_targets, profile_targets
from lmrec.rlmrec.profiles import FALLBACK_REASONING, dataset_key, embeddings_pointer
from lmrec.utils import write_json
from tests.text_planted import DIM, FakeEmbedder, refuse_llm, text_dataset

FAILED_USERS, FAILED_ITEMS = {1, 4}, {0, 7}


def _product(folder, ds, seed: int = 3):
    """What notebook 02 writes: generated embeddings, profiles (some failed: fallback stand-ins), meta.json."""
    rng = np.random.default_rng(seed)
    user, item = rng.normal(size=(ds.n_users, DIM)).astype(np.float32), rng.normal(size=(ds.n_items, DIM)).astype(np.float32)
    users = {u: {"profile": f"user {u} profile", "reasoning": FALLBACK_REASONING if u in FAILED_USERS else "r"}
             for u in range(ds.n_users)}
    items = {i: {"profile": f"item {i} profile", "reasoning": FALLBACK_REASONING if i in FAILED_ITEMS else "r"}
             for i in range(ds.n_items)}
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in (("usr_emb_np.pkl", user), ("itm_emb_np.pkl", item), ("usr_prf.pkl", users), ("itm_prf.pkl", items)):
        with open(folder / name, "wb") as fh:
            pickle.dump(obj, fh)
    write_json(folder / "meta.json", {"embed": {"backend": "sentence-transformers", "model": "fake-embedder",
                                                "normalize": False, "dimensions": None}})
    return user, item


@pytest.fixture
def no_llm(monkeypatch):
    """Every way to an LLM fails; the text embedder is a recording fake."""
    return refuse_llm(monkeypatch, "lmrec.llm.embed_texts", "lmrec.llm.embed.embed_texts")


def test_cycle_permutation_moves_every_covered_id_and_only_those():
    covered = [1, 3, 4, 8]
    perm = cycle_permutation(10, covered, seed=5)
    assert sorted(perm.tolist()) == list(range(10))
    assert all(perm[i] == i for i in range(10) if i not in covered)
    assert all(perm[i] != i and perm[i] in covered for i in covered)
    i, seen = covered[0], []  # one cycle through all of them
    for _ in covered:
        seen.append(i)
        i = int(perm[i])
    assert sorted(seen) == covered and i == covered[0]
    assert np.array_equal(perm, cycle_permutation(10, covered, seed=5))
    assert any(not np.array_equal(perm, cycle_permutation(10, covered, seed=s)) for s in range(6, 10))
    assert np.array_equal(cycle_permutation(4, [2], seed=0), np.arange(4))  # one covered id: nothing to swap
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        cycle_permutation(4, [4], seed=0)


def test_three_sources_same_shape_and_coverage_different_targets(tmp_path, no_llm):
    ds = text_dataset()
    gen_user, gen_item = _product(tmp_path, ds)
    raw = control_targets("raw", ds, seed=2023, folder=tmp_path)
    shuffled = control_targets("shuffled", ds, seed=2023, folder=tmp_path)
    for t in (raw, shuffled):
        assert t.user.shape == gen_user.shape and t.item.shape == gen_item.shape
        assert t.user.dtype == t.item.dtype == torch.float32
        # the generated product's coverage: failed profiles stay out of the loss under every source
        assert [u for u in range(ds.n_users) if not t.user_mask[u]] == sorted(FAILED_USERS)
        assert [i for i in range(ds.n_items) if not t.item_mask[i]] == sorted(FAILED_ITEMS)
    um, im = raw.user_mask.numpy(), raw.item_mask.numpy()
    assert not np.allclose(raw.user.numpy()[um], gen_user[um]) and not np.allclose(raw.item.numpy()[im], gen_item[im])
    assert not np.allclose(shuffled.user.numpy()[um], gen_user[um])
    assert not np.allclose(shuffled.item.numpy()[im], gen_item[im])
    assert not np.allclose(raw.user.numpy()[um], shuffled.user.numpy()[um])
    assert "raw" in raw.caption and "no LLM" in raw.caption and "shuffled" in shuffled.caption


def test_shuffled_is_a_permutation_of_the_generated_rows_within_the_coverage(tmp_path, no_llm):
    ds = text_dataset()
    gen_user, gen_item = _product(tmp_path, ds)
    t = control_targets("shuffled", ds, seed=2023, folder=tmp_path)
    for got, want, mask in ((t.user.numpy(), gen_user, t.user_mask.numpy()), (t.item.numpy(), gen_item, t.item_mask.numpy())):
        assert np.array_equal(got[~mask], want[~mask])                       # uncovered rows stay
        assert sorted(map(tuple, got[mask])) == sorted(map(tuple, want[mask]))  # same multiset of covered rows
        assert not any(np.array_equal(got[i], want[i]) for i in np.flatnonzero(mask))  # none kept its own
    again = control_targets("shuffled", ds, seed=2023, folder=tmp_path)
    other = control_targets("shuffled", ds, seed=2024, folder=tmp_path)
    assert np.array_equal(again.user.numpy(), t.user.numpy())                  # fixed by the seed
    assert not np.array_equal(other.user.numpy(), t.user.numpy())


def test_raw_embeds_the_nodes_own_text_with_the_products_embedder_and_no_llm(tmp_path, no_llm, monkeypatch):
    ds = text_dataset()
    _product(tmp_path, ds)
    models = []
    real = no_llm.__call__
    monkeypatch.setattr("lmrec.llm.embed_texts", lambda texts, cfg=None, **kw: (models.append(cfg.model), real(texts))[1])
    t = control_targets("raw", ds, seed=2023, folder=tmp_path)
    assert set(models) == {"fake-embedder"}                                    # 02's embedder, from its meta.json
    assert set(no_llm.texts) == set(ds.item_texts()) | set(ds.user_texts())
    assert not any("profile" in text for text in no_llm.texts)                 # no LLM text goes in
    np.testing.assert_allclose(t.user.numpy()[0], FakeEmbedder.vector("age: 20, gender: F, occupation: technician"),
                               rtol=1e-6)
    np.testing.assert_allclose(t.item.numpy()[1], FakeEmbedder.vector("title: Movie 1, year: 1991, genres: Drama"),
                               rtol=1e-6)


def test_profile_source_picks_the_control_of_02s_product_and_names_the_row(no_llm):
    ds = text_dataset()
    folder = stage_dir("rlmrec", "embeddings", {"test": "controls"})
    gen_user, _ = _product(folder, ds)
    write_pointer(embeddings_pointer(dataset_key(ds)), folder)
    rows = {}
    for source in ("generated", "raw", "shuffled"):
        spec = CFSpec.from_notebook("lightgcn", {"ALIGNMENT": "con", "PROFILE_SOURCE": source, "SEED": 2024,
                                                 "SPLIT_SEED": 2023}, progress=False)
        targets = profile_targets(spec, ds)
        rows[source] = (spec.row, targets.user.numpy())
    assert np.allclose(rows["generated"][1], gen_user)
    assert not np.allclose(rows["raw"][1], gen_user) and not np.allclose(rows["shuffled"][1], gen_user)
    assert [r for r, _ in rows.values()] == ["LightGCN+Con", "LightGCN+Con (raw text)", "LightGCN+Con (shuffled)"]
    # the permutation follows the split seed, not the training seed: every training seed aligns to the same one
    spec = CFSpec.from_notebook("lightgcn", {"ALIGNMENT": "con", "PROFILE_SOURCE": "shuffled", "SEED": 2025,
                                             "SPLIT_SEED": 2023}, progress=False)
    assert np.array_equal(profile_targets(spec, ds).user.numpy(), rows["shuffled"][1])
    plain = CFSpec.from_notebook("lightgcn", {"ALIGNMENT": "none", "PROFILE_SOURCE": "raw"}, progress=False)
    assert plain.row == "LightGCN" and profile_targets(plain, ds) is None
