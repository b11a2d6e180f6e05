"""LLMRec's augmentation from three sources (issue 24 part 4): notebook 20's (generated), the nodes' own text with no
LLM (raw), the generated features and pairs shuffled across nodes; same shapes and coverage, different contents."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.llmrec.controls import control_augmentation, control_caption, source_row, text_pairs
from lmrec.llmrec.parsing import ATTRIBUTE_FIELDS
from lmrec.llmrec.pipeline import Augmentation
from tests.text_planted import DIM, FakeEmbedder, refuse_llm, text_dataset

PROFILED, ATTRIBUTED, PAIRED = (0, 2, 3, 7), (1, 4, 5, 6), (0, 1, 3, 8)


def _augmentation(ds, seed: int = 0) -> Augmentation:
    """A generated augmentation: features for some users/items (zero rows elsewhere), pairs for some users among
    their candidates (the base model's top items outside their training items)."""
    rng = np.random.default_rng(seed)
    emb = {"item_text": rng.normal(size=(ds.n_items, DIM)).astype(np.float32),
           "user_profile": np.zeros((ds.n_users, DIM), dtype=np.float32)}
    emb["user_profile"][list(PROFILED)] = rng.normal(size=(len(PROFILED), DIM))
    for f in ATTRIBUTE_FIELDS:
        emb[f"item_{f}"] = np.zeros((ds.n_items, DIM), dtype=np.float32)
        emb[f"item_{f}"][list(ATTRIBUTED)] = rng.normal(size=(len(ATTRIBUTED), DIM))
    train = ds.train.tocsr()
    pair_users = np.array(PAIRED)
    candidates = np.stack([np.setdiff1d(np.arange(ds.n_items), train[u].indices)[:4] for u in pair_users])
    pos, neg = np.full(ds.n_users, -1), np.full(ds.n_users, -1)
    pos[pair_users], neg[pair_users] = candidates[:, 0], candidates[:, 1]
    profiles = {u: {"age": str(u), "liked_genre": "drama"} for u in PROFILED}
    attributes = {i: {"director": f"d{i}", "country": f"c{i}", "language": f"l{i}"} for i in ATTRIBUTED}
    return Augmentation(pos, neg, candidates, pair_users, profiles, attributes, emb, {"users_with_profile": 4.0}, {}, {},
                        {"embed_model": "fake-embedder", "max_history": 2})


@pytest.fixture
def no_llm(monkeypatch):
    """Every way to an LLM fails; the text embedder is a recording fake."""
    return refuse_llm(monkeypatch, "lmrec.llmrec.pipeline.embed_texts")


def test_generated_is_the_augmentation_itself():
    ds = text_dataset()
    aug = _augmentation(ds)
    assert control_augmentation(aug, ds, "generated", seed=1) is aug
    with pytest.raises(ValueError, match="TEXT_SOURCE='llm'"):
        control_augmentation(aug, ds, "llm", seed=1)


def test_three_sources_same_shapes_and_coverage_different_contents(no_llm):
    ds = text_dataset()
    aug = _augmentation(ds)
    raw, shuffled = (control_augmentation(aug, ds, s, seed=2023) for s in ("raw", "shuffled"))
    for other in (raw, shuffled):
        assert set(other.embeddings) == set(aug.embeddings)
        assert all(other.embeddings[k].shape == aug.embeddings[k].shape for k in aug.embeddings)
        assert sorted(other.profiles) == sorted(aug.profiles) and sorted(other.attributes) == sorted(aug.attributes)
        assert np.array_equal(other.aug_pos >= 0, aug.aug_pos >= 0)             # the same users carry a pair
        for key in ("user_profile", *(f"item_{f}" for f in ATTRIBUTE_FIELDS)):
            covered = np.abs(other.embeddings[key]).sum(1) > 0
            assert np.array_equal(covered, np.abs(aug.embeddings[key]).sum(1) > 0), key  # no feature gained or lost
            assert not np.allclose(other.embeddings[key], aug.embeddings[key]), key
        assert np.array_equal(other.embeddings["item_text"], aug.embeddings["item_text"])  # no LLM product: kept
    assert not np.allclose(raw.embeddings["user_profile"], shuffled.embeddings["user_profile"])
    assert aug.spec.get("text_source") is None  # the generated augmentation is left as it was


def test_shuffled_moves_rows_and_pairs_across_nodes_attributes_together():
    ds = text_dataset()
    aug = _augmentation(ds)
    aug.aug_pos[list(PAIRED)], aug.aug_neg[list(PAIRED)] = [0, 1, 2, 3], [4, 5, 6, 7]  # a distinct pair per user
    sh = control_augmentation(aug, ds, "shuffled", seed=2023)
    got, want = sh.embeddings["user_profile"], aug.embeddings["user_profile"]
    assert sorted(map(tuple, got[list(PROFILED)])) == sorted(map(tuple, want[list(PROFILED)]))
    assert not any(np.array_equal(got[u], want[u]) for u in PROFILED)
    # one permutation for the three attributes: the row an item gets comes from one other item in every field
    first = ATTRIBUTE_FIELDS[0]
    for i in ATTRIBUTED:
        source = [j for j in ATTRIBUTED if np.array_equal(sh.embeddings[f"item_{first}"][i], aug.embeddings[f"item_{first}"][j])]
        assert len(source) == 1 and source[0] != i
        assert all(np.array_equal(sh.embeddings[f"item_{f}"][i], aug.embeddings[f"item_{f}"][source[0]]) for f in ATTRIBUTE_FIELDS)
        assert sh.attributes[i] == aug.attributes[source[0]]
    pairs = lambda a: sorted((int(a.aug_pos[u]), int(a.aug_neg[u])) for u in PAIRED)  # noqa: E731
    assert pairs(sh) == pairs(aug) and not any(sh.aug_pos[u] == aug.aug_pos[u] for u in PAIRED)
    again = control_augmentation(aug, ds, "shuffled", seed=2023)
    assert np.array_equal(again.embeddings["user_profile"], got) and np.array_equal(again.aug_pos, sh.aug_pos)


def test_raw_uses_the_nodes_own_text_and_no_llm(no_llm):
    ds = text_dataset()
    aug = _augmentation(ds)
    raw = control_augmentation(aug, ds, "raw", seed=2023)
    users, titles = ds.user_texts(), ds.item_text["title"].tolist()
    np.testing.assert_allclose(raw.embeddings["user_profile"][3], FakeEmbedder.vector(users[3]), rtol=1e-6)
    np.testing.assert_allclose(raw.embeddings["item_director"][4], FakeEmbedder.vector(f"title: {titles[4]}"), rtol=1e-6)
    np.testing.assert_allclose(raw.embeddings["item_language"][4],
                               FakeEmbedder.vector(f"genres: {ds.item_text['genres'][4]}"), rtol=1e-6)
    assert set(no_llm.texts) <= set(users) | {f"{c}: {v}" for c in ("title", "year", "genres") for v in ds.item_text[c]}
    assert raw.spec["text_source"] == "raw" and "no LLM" in control_caption("raw", 2023)


def test_text_pairs_pick_the_candidates_nearest_and_farthest_from_the_history():
    """Hand-built: item-text vectors on axes, the user's last two training items point along x, so the candidate
    along x is liked and the one along -x disliked, whatever the candidates' order."""
    ds = text_dataset()
    aug = _augmentation(ds)
    u = PAIRED[0]
    hist = ds.sequences("train")[u][-2:]
    emb = np.zeros((ds.n_items, DIM), dtype=np.float32)
    emb[hist, 0] = 1.0
    cands = aug.candidates[0].copy()
    emb[cands[0], 1], emb[cands[1], 0], emb[cands[2], 0], emb[cands[3], 2] = 1.0, -2.0, 0.5, 1.0
    aug.embeddings["item_text"] = emb
    pos, neg = text_pairs(aug, ds)
    assert (pos[u], neg[u]) == (cands[2], cands[1])
    aug.candidates[0] = cands[::-1].copy()
    pos2, neg2 = text_pairs(aug, ds)
    assert (pos2[u], neg2[u]) == (cands[2], cands[1])
    assert all(pos[v] == -1 for v in range(ds.n_users) if v not in PAIRED)


def test_rows_name_the_source_and_the_base_model_takes_none():
    assert source_row("full", "generated") == "LLMRec"
    assert source_row("full", "raw") == "LLMRec (raw text)" and source_row("full", "shuffled") == "LLMRec (shuffled)"
    assert source_row("base", "generated") == "LightGCN (no augmentation)"
    with pytest.raises(ValueError, match="VARIANT='base'"):
        source_row("base", "raw")
