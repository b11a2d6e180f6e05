"""The user/item tokenizer: atomic ID tokens with ids N+i and N+I+j, round trips, batch padding."""

from __future__ import annotations

import pytest

from lmrec.cllm4rec import UserItemTokenizer


def test_id_tokens_are_atomic_with_offset_ids(base_tokenizer):
    tok = UserItemTokenizer(base_tokenizer, n_users=5, n_items=7)
    n = len(base_tokenizer)
    ids = tok.encode("Hello, user_1! Have you seen item_2?")
    assert n + 1 in ids and n + 5 + 2 in ids
    assert tok.tokenize("user_3 has interacted with item_6 item_0")[0] == "user_3"
    assert tok.tokenize("user_3 has interacted with item_6 item_0")[-2:] == ["item_6", "item_0"]
    # the text between ID words goes through the base tokenizer unchanged
    assert tok.encode("user_3 has interacted with") == [n + 3] + base_tokenizer.encode(" has interacted with")
    assert len(tok) == n + 5 + 7


def test_round_trip(base_tokenizer):
    tok = UserItemTokenizer(base_tokenizer, n_users=5, n_items=7)
    text = "user_4 writes the following review for item_5: this movie is great fun."
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode("user_1 has interacted with item_2 item_3")) == "user_1 has interacted with item_2 item_3"
    assert tok.decode([tok.item_token_id(6), tok.user_token_id(0)]) == "item_6 user_0"


def test_out_of_range_ids_are_rejected(base_tokenizer):
    tok = UserItemTokenizer(base_tokenizer, n_users=5, n_items=7)
    with pytest.raises(ValueError, match="user_5"):
        tok.encode("user_5 says hi")
    with pytest.raises(ValueError, match="item_7"):
        tok.encode("item_7")
    with pytest.raises(ValueError, match="beyond"):
        tok.decode([len(tok)])


def test_batch_encoding_pads_right_with_mask(base_tokenizer):
    tok = UserItemTokenizer(base_tokenizer, n_users=5, n_items=7)
    ids, mask = tok.encode_batch(["user_1 item_2", "user_1 has interacted with item_2 item_3"])
    first = tok.encode("user_1 item_2")
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert ids[0, :2].tolist() == first and mask[0].tolist() == [1, 1] + [0] * (ids.shape[1] - 2)
    assert (ids[0, 2:] == tok.pad_token_id).all() and mask[1].all()
    cut, cmask = tok.encode_batch(["user_1 has interacted with item_2 item_3"], max_length=3)
    assert cut.shape == (1, 3) and cmask.all()
