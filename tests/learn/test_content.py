"""LEARN content extraction: mean pooling over real tokens, L2 normalisation, padding invariance, cache."""

import numpy as np
import pytest
import torch

from lmrec.learn import ContentConfig, item_content_embeddings, llm_item_embeddings, mean_pool
from lmrec.learn.content import load_frozen_llm


def test_mean_pool_ignores_padding_hand_computed():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 3.0], [7.0, 8.0]]


@pytest.fixture(scope="module")
def tiny_lm():
    return load_frozen_llm(ContentConfig(model="tiny-random"))


def test_llm_embeddings_are_normalised_and_padding_invariant(tiny_lm):
    model, tokenizer = tiny_lm
    texts = ["title: Toy Story, year: 1995", "a much longer item description with many more words in it to pad"]
    batch = llm_item_embeddings(model, tokenizer, texts, batch_size=2)
    alone = llm_item_embeddings(model, tokenizer, texts[:1], batch_size=1)
    assert batch.shape == (2, model.config.hidden_size)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(batch[0], alone[0], atol=1e-5)  # padding the short text changes nothing
    # equals the normalised mean of the last hidden states over the real tokens, computed by hand
    enc = tokenizer(texts[:1], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states[-1][0]
    manual = hidden.mean(0) / hidden.mean(0).norm()
    np.testing.assert_allclose(alone[0], manual.numpy(), atol=1e-5)


def test_item_content_embeddings_cached_per_text(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    cfg = ContentConfig(model="tiny-random", batch_size=2)
    first_stats, second_stats = {}, {}
    a = item_content_embeddings(["x y", "z", "x y"], cfg, stats=first_stats)
    b = item_content_embeddings(["z", "x y", "w"], cfg, stats=second_stats)
    assert first_stats["embedded"] == 2 and first_stats["cache_hits"] == 1
    assert second_stats["embedded"] == 1 and second_stats["cache_hits"] == 2
    np.testing.assert_array_equal(a[0], a[2])
    np.testing.assert_array_equal(a[1], b[0])
    assert not np.allclose(a[0], a[1])


def test_the_cache_tells_truncation_lengths_and_dtypes_apart(tmp_path, monkeypatch):
    """A vector cached at one max_length (or dtype) is never served for another: the text is embedded again."""
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    text = ["a long item description " * 8]
    short, long_, half = {}, {}, {}
    a = item_content_embeddings(text, ContentConfig(model="tiny-random", max_length=4), stats=short)
    b = item_content_embeddings(text, ContentConfig(model="tiny-random", max_length=64), stats=long_)
    assert short["embedded"] == 1 and long_["embedded"] == 1 and not np.allclose(a, b)
    item_content_embeddings(text, ContentConfig(model="tiny-random", max_length=64, dtype="bfloat16"), stats=half)
    assert half["embedded"] == 1
    # settings that do not change a vector share the entry
    again = {}
    item_content_embeddings(text, ContentConfig(model="tiny-random", max_length=64, batch_size=7), stats=again)
    assert again["embedded"] == 0 and again["cache_hits"] == 1
