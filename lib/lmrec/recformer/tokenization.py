"""Items as key-value "sentences" and users as ``<s>`` + item sentences, most recent first (paper Sec. 3.1).

An item is ``key value key value ...`` over at most ``max_attr_num`` attributes; each attribute (key and
value tokens together) is cut to ``max_attr_length`` tokens. Token types: 0 ``<s>``, 1 key, 2 value, 3 pad.
A user sequence keeps the ``max_items`` most recent items in reverse time order; item position 0 is
``<s>``, the most recent item is 1, the next 2, ...; the whole sequence is cut to ``max_token_num`` tokens.
Padding uses the pad token, type 3 and the last item-position row, as in the original tokenizer.

Word boundaries are kept per token (``word_start``) so whole-word masking works for any fast tokenizer
(WordPiece or byte-level BPE) without guessing from token strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .config import TYPE_CLS, TYPE_KEY, TYPE_PAD, TYPE_VALUE, RecformerConfig

Attributes = Sequence[tuple[str, str]]


@dataclass
class TokenizedItems:
    """All items' token ids, token types and word starts, flat with per-item offsets (item i owns
    ``[offsets[i], offsets[i+1])``)."""

    ids: np.ndarray
    types: np.ndarray
    word_start: np.ndarray
    offsets: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.offsets) - 1

    def item(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        sl = slice(self.offsets[i], self.offsets[i + 1])
        return self.ids[sl], self.types[sl]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def _tokenize_strings(tokenizer, strings: list[str]) -> dict[str, tuple[list[int], list[bool]]]:
    """Token ids and word-start flags of each distinct string (no special tokens)."""
    unique = sorted(set(strings))
    if not unique:
        return {}
    enc = tokenizer(unique, add_special_tokens=False)
    out = {}
    for n, text in enumerate(unique):
        ids = list(enc["input_ids"][n])
        try:
            words = enc.word_ids(n)
        except (ValueError, AttributeError):  # slow tokenizer: treat every token as its own word
            words = list(range(len(ids)))
        starts = [k == 0 or words[k] != words[k - 1] for k in range(len(ids))]
        out[text] = (ids, starts)
    return out


def tokenize_items(attributes: Sequence[Attributes], tokenizer, config: RecformerConfig) -> TokenizedItems:
    """Tokenize every item's ``[(key, value), ...]`` into the Recformer item layout."""
    strings = [s for attrs in attributes for kv in list(attrs)[:config.max_attr_num] for s in kv]
    table = _tokenize_strings(tokenizer, strings)
    ids: list[int] = []
    types: list[int] = []
    starts: list[bool] = []
    offsets = [0]
    for attrs in attributes:
        for key, value in list(attrs)[:config.max_attr_num]:
            k_ids, k_st = table[key]
            v_ids, v_st = table[value]
            cut = config.max_attr_length
            ids += (k_ids + v_ids)[:cut]
            types += ([TYPE_KEY] * len(k_ids) + [TYPE_VALUE] * len(v_ids))[:cut]
            starts += (k_st + v_st)[:cut]
        offsets.append(len(ids))
    return TokenizedItems(np.asarray(ids, dtype=np.int64), np.asarray(types, dtype=np.int64),
                          np.asarray(starts, dtype=bool), np.asarray(offsets, dtype=np.int64))


@dataclass
class EncodedSequence:
    input_ids: np.ndarray
    token_type_ids: np.ndarray
    item_position_ids: np.ndarray
    word_start: np.ndarray


def encode_sequence(history: Sequence[int] | np.ndarray, items: TokenizedItems, config: RecformerConfig,
                    cls_token_id: int) -> EncodedSequence:
    """``<s>`` + the items of ``history`` (given in time order) most recent first, truncated as the paper
    says (``max_items`` items, then ``max_token_num`` tokens)."""
    hist = np.asarray(history, dtype=np.int64)[::-1][:config.max_items]
    lens = items.offsets[hist + 1] - items.offsets[hist]
    total = int(lens.sum())
    ends = np.cumsum(lens)
    idx = np.repeat(items.offsets[hist], lens) + (np.arange(total) - np.repeat(ends - lens, lens))
    cut = config.max_token_num - 1
    idx = idx[:cut]
    return EncodedSequence(
        input_ids=np.concatenate([[cls_token_id], items.ids[idx]]),
        token_type_ids=np.concatenate([[TYPE_CLS], items.types[idx]]),
        item_position_ids=np.concatenate([[0], np.repeat(np.arange(1, len(hist) + 1), lens)[:cut]]),
        word_start=np.concatenate([[True], items.word_start[idx]]),
    )


def collate(seqs: Sequence[EncodedSequence], config: RecformerConfig, pad_token_id: int,
            pad_to_multiple_of: int = 1) -> dict[str, torch.Tensor]:
    """Right-pad a batch to its longest sequence (rounded up to ``pad_to_multiple_of``).

    Returns ``input_ids``, ``token_type_ids``, ``item_position_ids``, ``attention_mask`` (1 real, 0 pad),
    ``global_attention_mask`` (1 on ``<s>``) and ``word_start`` (bool)."""
    length = max(len(s.input_ids) for s in seqs)
    length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    n = len(seqs)
    out = {
        "input_ids": np.full((n, length), pad_token_id, dtype=np.int64),
        "token_type_ids": np.full((n, length), TYPE_PAD, dtype=np.int64),
        "item_position_ids": np.full((n, length), config.max_item_embeddings - 1, dtype=np.int64),
        "attention_mask": np.zeros((n, length), dtype=np.int64),
        "word_start": np.zeros((n, length), dtype=bool),
    }
    for row, s in enumerate(seqs):
        m = len(s.input_ids)
        out["input_ids"][row, :m] = s.input_ids
        out["token_type_ids"][row, :m] = s.token_type_ids
        out["item_position_ids"][row, :m] = s.item_position_ids
        out["attention_mask"][row, :m] = 1
        out["word_start"][row, :m] = s.word_start
    glob = np.zeros((n, length), dtype=np.int64)
    glob[:, 0] = 1
    out["global_attention_mask"] = glob
    return {k: torch.from_numpy(v) for k, v in out.items()}


def encode_batch(histories: Sequence[Sequence[int] | np.ndarray], items: TokenizedItems, config: RecformerConfig,
                 cls_token_id: int, pad_token_id: int) -> dict[str, torch.Tensor]:
    """:func:`encode_sequence` for each history, then :func:`collate`."""
    return collate([encode_sequence(h, items, config, cls_token_id) for h in histories], config, pad_token_id)


def whole_word_mask(batch: dict[str, torch.Tensor], probability: float, mask_token_id: int, vocab_size: int,
                    rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole-word masking for MLM (BERT WWM as in Recformer's collator).

    Per sequence, ``max(1, round(probability * n_tokens))`` tokens are chosen by shuffling the words
    (``<s>`` and padding excluded) and taking whole words while they fit. Of the chosen tokens 80 % become
    the mask token, 10 % a random token, 10 % stay. Returns ``(masked input_ids, labels)`` with labels
    -100 on tokens not chosen.
    """
    ids = batch["input_ids"].numpy()
    starts = batch["word_start"].numpy()
    real = batch["attention_mask"].numpy().astype(bool)
    chosen = np.zeros_like(real)
    for row in range(ids.shape[0]):
        n_tok = int(real[row].sum())
        cand = np.flatnonzero(real[row])[1:]  # drop <s>
        if len(cand) == 0:
            continue
        word_of = np.cumsum(starts[row, cand]) - 1
        if word_of[0] < 0:  # sequence starts mid-word (truncation): that piece is its own word
            word_of = word_of + 1
        n_words = int(word_of[-1]) + 1
        budget = max(1, int(round(n_tok * probability)))
        taken = 0
        for w in rng.permutation(n_words):
            if taken >= budget:
                break
            pos = cand[word_of == w]
            if taken + len(pos) > budget:
                continue
            chosen[row, pos] = True
            taken += len(pos)
    labels = np.where(chosen, ids, -100)
    u = rng.random(ids.shape)
    masked = ids.copy()
    masked[chosen & (u < 0.8)] = mask_token_id
    rand_pos = chosen & (u >= 0.8) & (u < 0.9)
    masked[rand_pos] = rng.integers(0, vocab_size, size=int(rand_pos.sum()))
    return torch.from_numpy(masked), torch.from_numpy(labels)
