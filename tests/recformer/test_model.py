"""Embeddings, the Longformer attention (dense form vs transformers' kernel), weight conversion, losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrec.recformer.config import RecformerConfig
from lmrec.recformer.encoder import bert_to_recformer_state, load_encoder, minilm_path
from lmrec.recformer.model import contrastive_loss, finetune_loss, mlm_loss

from .fixtures import tiny_model


def random_batch(b=3, n=13, vocab=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (b, n), generator=g)
    mask = torch.ones(b, n, dtype=torch.long)
    if b >= 3:
        mask[1, 9:] = 0
        mask[2, 4:] = 0
    ids[mask == 0] = 0
    glob = torch.zeros(b, n, dtype=torch.long)
    glob[:, 0] = 1
    glob[0, 5] = 1  # a second global token
    return {"input_ids": ids, "token_type_ids": torch.randint(0, 3, (b, n), generator=g),
            "item_position_ids": torch.randint(0, 10, (b, n), generator=g), "attention_mask": mask,
            "global_attention_mask": glob}


def test_dense_attention_equals_transformers_longformer_kernel():
    cfg = RecformerConfig(attention_window=4, max_token_num=64)  # window 4 < 13 tokens: the band matters
    model = tiny_model(cfg, vocab_size=50).eval()
    batch = random_batch()
    with torch.no_grad():
        cfg.attention_impl = "dense"
        dense = model(**batch)
        cfg.attention_impl = "longformer"
        chunked = model(**batch)
    real = batch["attention_mask"].bool()
    assert torch.allclose(dense[real], chunked[real], atol=1e-5)


def test_sliding_window_limits_what_a_local_token_sees():
    cfg = RecformerConfig(attention_window=4, max_token_num=64)
    model = tiny_model(cfg, vocab_size=50, layers=1).eval()
    batch = random_batch(b=1)
    batch["global_attention_mask"][0, 5] = 0
    far = {**batch, "input_ids": batch["input_ids"].clone()}
    far["input_ids"][0, 12] = (far["input_ids"][0, 12] % 40) + 1 + 5  # change a token 9 positions from token 3
    with torch.no_grad():
        a, b = model(**batch), model(**far)
    assert torch.allclose(a[0, 3], b[0, 3], atol=1e-6)  # outside token 3's one-layer window (+-2) and not global
    assert not torch.allclose(a[0, 0], b[0, 0])  # <s> is global: it sees everything


def test_embeddings_are_layernorm_of_four_tables():
    model = tiny_model(vocab_size=50).eval()
    batch = random_batch()
    e = model.embeddings
    expected = e.LayerNorm(e.word_embeddings(batch["input_ids"]) + e.position_embeddings.weight[:13]
                           + e.token_type_embeddings(batch["token_type_ids"])
                           + e.item_position_embeddings(batch["item_position_ids"]))
    got = e(batch["input_ids"], batch["token_type_ids"], batch["item_position_ids"], batch["attention_mask"])
    assert torch.allclose(got, expected, atol=1e-6)
    assert e.token_type_embeddings.num_embeddings == 4


def test_minilm_conversion_reproduces_bert_on_short_inputs(tokenizer):
    """With the new tables zeroed, the converted encoder must equal the original BERT (every token of a short
    input lies inside the window and the global projections are copies of the local ones)."""
    from transformers import BertModel

    model, _, info = load_encoder("minilm", RecformerConfig(attention_window=64, max_token_num=64))
    assert "global" in info["conversion"]
    bert = BertModel.from_pretrained(str(minilm_path())).eval()
    model.eval()
    with torch.no_grad():
        model.embeddings.token_type_embeddings.weight.zero_()
        model.embeddings.item_position_embeddings.weight.zero_()
        bert.embeddings.token_type_embeddings.weight.zero_()
        enc = tokenizer(["title toy story year 1995", "genres comedy"], padding=True, return_tensors="pt")
        n = enc["input_ids"].shape[1]
        batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                 "token_type_ids": torch.zeros_like(enc["input_ids"]), "item_position_ids": torch.zeros_like(enc["input_ids"]),
                 "global_attention_mask": torch.nn.functional.pad(torch.ones(2, 1, dtype=torch.long), (0, n - 1))}
        ours = model(**batch)
        ref = bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    real = enc["attention_mask"].bool()
    assert torch.allclose(ours[real], ref[real], atol=1e-4)


def test_bert_state_renaming_fills_global_projections():
    w = torch.randn(4, 4)
    state = bert_to_recformer_state({"encoder.layer.0.attention.self.query.weight": w,
                                     "embeddings.token_type_embeddings.weight": torch.zeros(2, 4),
                                     "pooler.dense.weight": w})
    assert set(state) == {"encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.query_global.weight"}
    assert torch.equal(state["encoder.layer.0.attention.self.query_global.weight"], w)


def test_contrastive_loss_matches_formula():
    g = torch.Generator().manual_seed(1)
    a, b, tau = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g), 0.05
    total = 0.0
    for i in range(4):
        sims = [float(F.cosine_similarity(a[i], b[j], dim=0)) / tau for j in range(4)]
        total += -(sims[i] - math.log(sum(math.exp(s) for s in sims)))
    assert contrastive_loss(a, b, tau).item() == pytest.approx(total / 4, rel=1e-4)


def test_finetune_loss_is_full_softmax_over_items():
    g = torch.Generator().manual_seed(2)
    users, table, tau = torch.randn(3, 5, generator=g), torch.randn(7, 5, generator=g), 0.05
    targets = torch.tensor([0, 6, 3])
    cos = (users / users.norm(dim=1, keepdim=True)) @ (table / table.norm(dim=1, keepdim=True)).T / tau
    expected = np.mean([-(cos[i, t] - torch.logsumexp(cos[i], 0)).item() for i, t in enumerate(targets.tolist())])
    assert finetune_loss(users, table, targets, tau).item() == pytest.approx(expected, rel=1e-5)


def test_mlm_loss_ignores_unmasked_tokens():
    logits = torch.randn(5, 11)
    labels = torch.tensor([-100, 3, -100, 7, -100])
    expected = F.cross_entropy(logits[[1, 3]], torch.tensor([3, 7]))
    assert mlm_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    assert mlm_loss(logits, torch.full((5,), -100)).item() == 0.0


def test_too_long_inputs_for_the_encoder_are_refused():
    with pytest.raises(ValueError, match="max_token_num"):
        tiny_model(RecformerConfig(max_token_num=1000, attention_window=8))
