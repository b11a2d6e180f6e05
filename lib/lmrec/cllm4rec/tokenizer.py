"""Tokenizer wrapper: any Hugging Face causal-LM tokenizer plus atomic ``user_i`` / ``item_j`` tokens.

CLLM4Rec (Zhu et al., WWW'24, arXiv 2311.01343): with a base vocabulary of size N, I users and
J items, ``user_i`` gets the id N+i and ``item_j`` the id N+I+j; all other text is tokenized by the base
tokenizer. A text is split on the ID words, the pieces between them are right-stripped (their leading
space is kept, as in the original code) and encoded without special tokens.
"""

from __future__ import annotations

import re
from functools import lru_cache

import torch

ID_PATTERN = re.compile(r"(user_\d+|item_\d+)")


class UserItemTokenizer:
    """Wraps ``base`` (a ``PreTrainedTokenizer[Fast]``) for ``n_users`` users and ``n_items`` items."""

    def __init__(self, base, n_users: int, n_items: int, pad_token_id: int | None = None) -> None:
        self.base = base
        self.n_users = int(n_users)
        self.n_items = int(n_items)
        self.n_vocab = len(base)
        if pad_token_id is None:
            pad_token_id = base.pad_token_id if base.pad_token_id is not None else base.eos_token_id
        self.pad_token_id = int(pad_token_id if pad_token_id is not None else 0)
        self._encode_piece = lru_cache(maxsize=65536)(self._encode_text)

    # ------------------------------------------------------------------ ids
    @property
    def user_offset(self) -> int:
        return self.n_vocab

    @property
    def item_offset(self) -> int:
        return self.n_vocab + self.n_users

    def __len__(self) -> int:
        return self.n_vocab + self.n_users + self.n_items

    def user_token_id(self, user: int) -> int:
        if not 0 <= user < self.n_users:
            raise ValueError(f"user_{user} is out of range: the tokenizer was built for {self.n_users} users")
        return self.user_offset + int(user)

    def item_token_id(self, item: int) -> int:
        if not 0 <= item < self.n_items:
            raise ValueError(f"item_{item} is out of range: the tokenizer was built for {self.n_items} items")
        return self.item_offset + int(item)

    # ------------------------------------------------------------- encoding
    def _encode_text(self, text: str) -> tuple[int, ...]:
        return tuple(self.base.encode(text, add_special_tokens=False))

    def pieces(self, text: str) -> list[str]:
        """Split into ID words and the text between them (right-stripped, empty pieces dropped)."""
        return [p.rstrip() for p in ID_PATTERN.split(text) if p.rstrip()]

    def tokenize(self, text: str) -> list[str]:
        """Tokens as strings: ``user_i``/``item_j`` whole, everything else as the base tokenizer splits it."""
        out: list[str] = []
        for piece in self.pieces(text):
            if ID_PATTERN.fullmatch(piece):
                out.append(piece)
            else:
                out.extend(self.base.convert_ids_to_tokens(list(self._encode_piece(piece))))
        return out

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens)."""
        ids: list[int] = []
        for piece in self.pieces(text):
            if ID_PATTERN.fullmatch(piece):
                kind, num = piece.split("_")
                ids.append(self.user_token_id(int(num)) if kind == "user" else self.item_token_id(int(num)))
            else:
                ids.extend(self._encode_piece(piece))
        return ids

    def decode(self, ids) -> str:
        """Inverse of :meth:`encode` up to the base tokenizer's whitespace handling; ID tokens are spaced."""
        parts: list[str] = []
        run: list[int] = []
        for i in (int(x) for x in ids):
            if i < self.n_vocab:
                run.append(i)
                continue
            if run:
                parts.append(self.base.decode(run))
                run = []
            if i < self.item_offset:
                parts.append(f"user_{i - self.user_offset}")
            elif i < len(self):
                parts.append(f"item_{i - self.item_offset}")
            else:
                raise ValueError(f"token id {i} is beyond the extended vocabulary ({len(self)} ids)")
        if run:
            parts.append(self.base.decode(run))
        text = ""
        for p in parts:
            text += p if (not text or p.startswith(" ") or not ID_PATTERN.fullmatch(p)) else " " + p
        return text

    def encode_batch(self, texts: list[str], max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ``(input_ids, attention_mask)`` LongTensors; sequences longer than ``max_length`` are
        cut on the right."""
        return pad_right([self.encode(t) for t in texts], self.pad_token_id, max_length)


def pad_right(seqs: list[list[int]], pad_id: int, max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (and optionally cut) id lists on the right; returns ids and a 0/1 attention mask."""
    if max_length is not None:
        seqs = [s[:max_length] for s in seqs]
    width = max((len(s) for s in seqs), default=0)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, :len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[row, :len(s)] = 1
    return ids, mask
