"""The planted CF dataset of tests/cf with the side text of ML-100K's shape (items: title, year, genres; users: age,
gender, occupation), and a fake text embedder that records what it was asked to embed: for the tests of the
controls of :mod:`lmrec.llm.controls` (raw text, shuffled)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd

from tests.cf.cf_planted import planted_dataset

DIM = 6


def text_dataset(n_users: int = 12, n_items: int = 10):
    """:func:`planted_dataset` with ``item_text`` and ``user_attrs``."""
    ds = planted_dataset(n_users=n_users, n_items=n_items, per_user=5)
    genres = ["Comedy", "Drama", "Action Thriller", "Animation Children's"]
    item_text = pd.DataFrame({"title": [f"Movie {i}" for i in range(n_items)],
                              "year": [str(1990 + i) for i in range(n_items)],
                              "genres": [genres[i % len(genres)] for i in range(n_items)]})
    user_attrs = pd.DataFrame({"age": [str(20 + u) for u in range(n_users)],
                               "gender": ["M" if u % 2 else "F" for u in range(n_users)],
                               "occupation": ["writer" if u % 3 else "technician" for u in range(n_users)]})
    return replace(ds, item_text=item_text, user_attrs=user_attrs, _matrices={})


class FakeEmbedder:
    """``embed_texts`` stand-in: a fixed vector per text (from its hash), every text asked for recorded."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts, config=None, progress=False, stats=None):
        self.texts += list(texts)
        return np.stack([self.vector(t) for t in texts]).astype(np.float32) if len(texts) else \
            np.zeros((0, DIM), dtype=np.float32)

    @staticmethod
    def vector(text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).normal(size=DIM)


def refuse_llm(monkeypatch, *embedder_paths: str) -> FakeEmbedder:
    """Make every way to an LLM fail (an AssertionError names it) and replace the text embedder at each of
    ``embedder_paths`` by one recording :class:`FakeEmbedder`, which is returned."""
    def refuse(*args, **kwargs):
        raise AssertionError("an LLM was called")

    for path in ("lmrec.llm.chat.make_backend", "lmrec.llm.chat.generate_chat", "lmrec.llm.chat.LocalChat.__init__"):
        monkeypatch.setattr(path, refuse)
    fake = FakeEmbedder()
    for path in embedder_paths:
        monkeypatch.setattr(path, fake)
    return fake
