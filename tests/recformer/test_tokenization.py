"""Item sentences, user sequences (most recent first, truncation), padding and whole-word masking."""

from __future__ import annotations

import numpy as np
import torch

from lmrec.recformer.config import TYPE_CLS, TYPE_KEY, TYPE_PAD, TYPE_VALUE, RecformerConfig
from lmrec.recformer.tokenization import (
    TokenizedItems,
    collate,
    encode_sequence,
    tokenize_items,
    whole_word_mask,
)


def hand_items(lengths=(3, 2, 4)) -> TokenizedItems:
    """Item i has tokens 100*(i+1) + k, first token a key, the rest values, each token its own word."""
    ids, types, offs = [], [], [0]
    for i, n in enumerate(lengths):
        ids += [100 * (i + 1) + k for k in range(n)]
        types += [TYPE_KEY] + [TYPE_VALUE] * (n - 1)
        offs.append(len(ids))
    return TokenizedItems(np.array(ids), np.array(types), np.ones(len(ids), dtype=bool), np.array(offs))


def test_item_sentence_types_and_attribute_truncation(tokenizer):
    cfg = RecformerConfig(max_attr_num=2, max_attr_length=4)
    items = tokenize_items([[("title", "toy story"), ("genres", "animation children comedy"), ("year", "1995")]],
                           tokenizer, cfg)
    tokens = tokenizer.convert_ids_to_tokens(items.item(0)[0].tolist())
    # two attributes kept (year dropped); genres cut to 4 tokens: key + 3 value tokens
    assert tokens == ["title", "toy", "story", "genres", "animation", "children", "comedy"]
    assert items.item(0)[1].tolist() == [TYPE_KEY, TYPE_VALUE, TYPE_VALUE, TYPE_KEY, TYPE_VALUE, TYPE_VALUE, TYPE_VALUE]
    cut = tokenize_items([[("title", "the fellowship of the ring")]], tokenizer, RecformerConfig(max_attr_length=3))
    assert tokenizer.convert_ids_to_tokens(cut.item(0)[0].tolist()) == ["title", "the", "fellowship"]


def test_word_starts_follow_wordpieces(tokenizer):
    items = tokenize_items([[("title", "goldeneye")]], tokenizer, RecformerConfig())
    tokens = tokenizer.convert_ids_to_tokens(items.item(0)[0].tolist())
    assert tokens == ["title", "golden", "##eye"]
    assert items.word_start.tolist() == [True, True, False]


def test_sequence_is_most_recent_first_with_item_positions():
    items = hand_items()
    cfg = RecformerConfig(max_item_embeddings=10, max_token_num=100)
    seq = encode_sequence([0, 1, 2], items, cfg, cls_token_id=7)  # time order: 0, 1, 2 (2 most recent)
    assert seq.input_ids.tolist() == [7, 300, 301, 302, 303, 200, 201, 100, 101, 102]
    assert seq.item_position_ids.tolist() == [0, 1, 1, 1, 1, 2, 2, 3, 3, 3]
    assert seq.token_type_ids.tolist() == [TYPE_CLS, 1, 2, 2, 2, 1, 2, 1, 2, 2]


def test_sequence_truncation_items_then_tokens():
    items = hand_items()
    # max_item_embeddings 3 -> at most 2 items (one row is <s>): the two most recent
    seq = encode_sequence([0, 1, 2], items, RecformerConfig(max_item_embeddings=3, max_token_num=100), 7)
    assert seq.input_ids.tolist() == [7, 300, 301, 302, 303, 200, 201]
    # max_token_num 6 -> <s> + 5 tokens
    seq = encode_sequence([0, 1, 2], items, RecformerConfig(max_item_embeddings=10, max_token_num=6), 7)
    assert seq.input_ids.tolist() == [7, 300, 301, 302, 303, 200]
    assert seq.item_position_ids.tolist() == [0, 1, 1, 1, 1, 2]
    empty = encode_sequence([], items, RecformerConfig(), 7)
    assert empty.input_ids.tolist() == [7] and empty.item_position_ids.tolist() == [0]


def test_collate_pads_with_pad_type_and_last_item_position():
    items = hand_items()
    cfg = RecformerConfig(max_item_embeddings=10, max_token_num=100)
    batch = collate([encode_sequence([0, 1], items, cfg, 7), encode_sequence([1], items, cfg, 7)], cfg, pad_token_id=0)
    assert batch["input_ids"].shape == (2, 6)
    assert batch["input_ids"][1].tolist() == [7, 200, 201, 0, 0, 0]
    assert batch["token_type_ids"][1, 3:].tolist() == [TYPE_PAD] * 3
    assert batch["item_position_ids"][1, 3:].tolist() == [9] * 3
    assert batch["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert batch["global_attention_mask"].tolist() == [[1, 0, 0, 0, 0, 0]] * 2


def test_whole_word_masking_keeps_words_whole_and_respects_budget():
    # 2 items of 6 tokens; words of 3, 2, 1 tokens per item (word_start flags)
    ws = np.array([1, 0, 0, 1, 0, 1] * 2, dtype=bool)
    items = TokenizedItems(np.arange(1000, 1012), np.array([1, 2, 2, 2, 2, 2] * 2), ws, np.array([0, 6, 12]))
    cfg = RecformerConfig(max_token_num=100)
    batch = collate([encode_sequence([0, 1], items, cfg, 7)] * 200, cfg, 0)
    batch["input_ids"] = torch.cat([batch["input_ids"], torch.zeros(200, 3, dtype=torch.long)], 1)  # extra padding
    for key, fill in (("attention_mask", 0), ("word_start", False), ("token_type_ids", 3), ("item_position_ids", 50),
                      ("global_attention_mask", 0)):
        batch[key] = torch.cat([batch[key], torch.full((200, 3), fill, dtype=batch[key].dtype)], 1)
    masked, labels = whole_word_mask(batch, 0.15, mask_token_id=5, vocab_size=30000, rng=np.random.default_rng(0))
    chosen = labels != -100
    n_tokens = 13  # <s> + 12
    assert (chosen.sum(1) <= round(0.15 * n_tokens)).all() and (chosen.sum(1) >= 1).all()
    assert not chosen[:, 0].any() and not chosen[:, 13:].any()  # never <s> or padding
    assert torch.equal(labels[chosen], batch["input_ids"][chosen])
    words = np.cumsum(np.r_[True, ws].astype(int))  # word id per position (<s> is word 1)
    for row in chosen.numpy():
        for w in np.unique(words[row[:13]]):
            assert row[:13][words == w].all()  # a chosen word is chosen whole
    rate = (masked[chosen] == 5).float().mean().item()
    assert 0.7 < rate < 0.9  # ~80 % mask token, the rest random or kept
    assert torch.equal(masked[~chosen], batch["input_ids"][~chosen])
