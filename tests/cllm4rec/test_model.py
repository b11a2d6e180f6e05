"""Masks, extended embeddings, tied item head, losses and the mutual regulariser, checked by hand."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmrec.cllm4rec import TaskModel, multinomial_nll, mutual_regularizer
from lmrec.cllm4rec.model import last_position_hidden, shifted_targets, target_item_regularizer


def test_masks_and_embedding_sum(tiny):
    model, tok = tiny
    n = tok.n_vocab
    # the boundaries: the last vocabulary id, user_0 and the last user (6 users), item_0 and the last item (9)
    edges = torch.tensor([[n - 1, n, n + 5, n + 6, n + 6 + 8]])
    m = model.masks(edges)
    assert m.vocab.tolist() == [[True, False, False, False, False]]
    assert m.user.tolist() == [[False, True, True, False, False]]
    assert m.item.tolist() == [[False, False, False, True, True]]
    ids = torch.tensor([[3, n + 2, n + 6 + 4, 0]])
    m = model.masks(ids)
    assert m.vocab.tolist() == [[True, False, False, True]]
    assert m.user.tolist() == [[False, True, False, False]]
    assert m.item.tolist() == [[False, False, True, False]]
    vocab = model.lm.get_input_embeddings().weight
    saved = vocab[0].detach().clone()
    with torch.no_grad():
        vocab[0] = 1.0  # token 0 is a real token (SmolLM2's <|endoftext|>), not a zero row: it must not leak
    try:
        for table in ("collab", "content"):
            e = model.embed(ids, table)
            tab = model.tables[table]
            assert torch.equal(e[0, 0], vocab[3])
            assert torch.equal(e[0, 1], tab.user.weight[2])
            assert torch.equal(e[0, 2], tab.item.weight[4])
            assert torch.equal(e[0, 3], vocab[0])
    finally:
        with torch.no_grad():
            vocab[0] = saved
    assert not torch.equal(model.embed(ids, "collab")[0, 1], model.embed(ids, "content")[0, 1])


def test_item_head_is_tied_to_item_embeddings(tiny):
    model, _ = tiny
    h = torch.randn(2, 3, model.tables["collab"].item.weight.shape[1])
    assert torch.allclose(model.item_logits(h), h @ model.tables["collab"].item.weight.T)
    with torch.no_grad():
        model.tables["collab"].item.weight[5] = 0.0
    assert torch.all(model.item_logits(h)[..., 5] == 0)
    model.item_logits(h).sum().backward()
    assert model.tables["collab"].item.weight.grad is not None


def test_lm_is_frozen_and_only_tables_train(tiny):
    model, _ = tiny
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"tables.{t}.{k}.weight" for t in ("collab", "content") for k in ("user", "item")}


def test_mutual_regularizer_formula(tiny):
    model, tok = tiny
    n = tok.n_vocab
    ids = torch.tensor([[5, n + 1, n + 6 + 2, n + 6 + 2]])
    mask = torch.tensor([[1, 1, 1, 0]])
    c, t = model.tables["collab"], model.tables["content"]
    expected = 0.5 * 3.0 * ((c.user.weight[1] - t.user.weight[1]).pow(2).sum()
                            + (c.item.weight[2] - t.item.weight[2]).pow(2).sum())
    got = mutual_regularizer(model, ids, mask, "collab", lambda_v=3.0)
    assert torch.allclose(got, expected)
    got.backward()  # only the table being updated gets a gradient; the other is the fixed prior mean
    assert c.user.weight.grad is not None and t.user.weight.grad is None
    assert torch.allclose(c.user.weight.grad[1], 3.0 * (c.user.weight[1] - t.user.weight[1]).detach())
    targets = torch.zeros(2, 9)
    targets[0, 2] = targets[1, 2] = targets[1, 4] = 1
    sq = (c.item.weight - t.item.weight).pow(2).sum(-1).detach()
    assert torch.allclose(target_item_regularizer(model, targets, 2.0), sq[2] * 2 + sq[4])


def test_multinomial_nll_formula():
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    ls = F.log_softmax(scores, -1)
    expected = -((ls[0, 0] + ls[0, 2]) + ls[1, 1]) / 2
    assert torch.allclose(multinomial_nll(scores, targets), expected)


def test_shifted_targets_predict_first_item_from_prompt():
    main = torch.tensor([[7, 8, 9]])
    mask = torch.tensor([[1, 1, 0]])
    pos, tgt, msk = shifted_targets(main, mask, prompt_len=4, predict_first=True)
    assert (pos.start, pos.stop) == (3, 6) and tgt.tolist() == [[7, 8, 9]] and msk.tolist() == [[1, 1, 0]]
    pos, tgt, _ = shifted_targets(main, mask, prompt_len=4, predict_first=False)  # the original code
    assert (pos.start, pos.stop) == (4, 6) and tgt.tolist() == [[8, 9]]


def test_collaborative_loss_matches_manual_softmax_over_items(tiny):
    model, tok = tiny
    prompt = torch.tensor([tok.encode("user_1 has interacted with")])
    items = torch.tensor([[2, 5]])
    loss, reg = TaskModel(model)("collab", lambda_v=0.0, prompt_ids=prompt, main_ids=items,
                                 main_mask=torch.ones_like(items))
    ids = torch.cat([prompt, items + tok.item_offset], 1)
    h = model.hidden(ids, torch.ones_like(ids), "collab")
    logits = h @ model.tables["collab"].item.weight.T
    p = prompt.shape[1]
    manual = (F.cross_entropy(logits[0, p - 1:p + 1], items[0]))
    assert torch.allclose(loss, manual, atol=1e-6) and float(reg) == 0.0


def test_content_loss_matches_manual_vocab_cross_entropy(tiny):
    model, tok = tiny
    prompt = torch.tensor([tok.encode("user_1 writes the following review for item_2:")])
    main = torch.tensor([tok.encode(" great fun")])
    loss, _ = TaskModel(model)("content", lambda_v=0.0, prompt_ids=prompt, main_ids=main, main_mask=torch.ones_like(main))
    ids = torch.cat([prompt, main], 1)
    h = model.hidden(ids, torch.ones_like(ids), "content")
    p = prompt.shape[1]
    logits = model.lm.get_output_embeddings()(h)[0, p - 1:p - 1 + main.shape[1], :tok.n_vocab]
    assert torch.allclose(loss, F.cross_entropy(logits, main[0]), atol=1e-6)


def test_truncate_layers_keeps_the_first_blocks(base_tokenizer, make_lm):
    import pytest

    from lmrec.cllm4rec.setup import truncate_layers

    lm = make_lm(len(base_tokenizer), layers=3)
    first = lm.model.layers[0]
    truncate_layers(lm, 1)
    assert len(lm.model.layers) == 1 and lm.model.layers[0] is first and lm.config.num_hidden_layers == 1
    ids = torch.tensor([[1, 2, 3]])
    assert lm(input_ids=ids).logits.shape == (1, 3, len(base_tokenizer))
    with pytest.raises(ValueError, match="N_LM_LAYERS=5"):
        truncate_layers(lm, 5)


def test_unfrozen_lm_trains_and_is_saved(base_tokenizer, make_lm):
    from lmrec.cllm4rec import build_model

    model, _ = build_model(make_lm(len(base_tokenizer)), base_tokenizer, 6, 9, freeze_lm=False)
    assert all(p.requires_grad for p in model.lm.parameters())
    state = model.trainable_state()
    assert any(k.startswith("lm.") for k in state) and "collab.item.weight" in state


def test_last_position_hidden_reads_each_rows_last_real_token():
    """Right-padded prompts of different lengths: the score of each row comes from its own last prompt token,
    never from a padding position."""
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    torch.testing.assert_close(last_position_hidden(hidden, mask), torch.stack([hidden[0, 2], hidden[1, 1]]))
