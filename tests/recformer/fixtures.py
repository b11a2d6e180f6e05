"""Helpers of the Recformer tests: tiny random encoders and a dataset with a planted sequential signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lmrec.data import InteractionDataset, make_interactions
from lmrec.recformer.config import RecformerConfig
from lmrec.recformer.model import EncoderSpec, Recformer


def tiny_spec(vocab_size: int = 30522, hidden: int = 32, layers: int = 2, heads: int = 4) -> EncoderSpec:
    return EncoderSpec(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=2 * hidden, max_position_embeddings=256, pad_token_id=0,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, name="tiny")


def tiny_model(config: RecformerConfig | None = None, **spec) -> Recformer:
    torch.manual_seed(0)
    return Recformer(tiny_spec(**spec), config or RecformerConfig(max_token_num=64, attention_window=8))


def successor_dataset(n_items: int = 16, n_users: int = 64, seed: int = 0) -> InteractionDataset:
    """Planted signal: every user walks the items in order, item i is always followed by item i+1 (mod n).
    Leave-one-out by position (last item test, second-to-last valid)."""
    rng = np.random.default_rng(seed)
    users, items, splits, times = [], [], [], []
    for u in range(n_users):
        start, length = int(rng.integers(n_items)), int(rng.integers(5, 9))
        seq = [(start + k) % n_items for k in range(length)]
        users += [u] * length
        items += seq
        times += list(range(length))
        splits += ["train"] * (length - 2) + ["valid", "test"]
    inter = make_interactions(np.array(users), np.array(items), np.array(splits, dtype=object),
                              timestamp=np.array(times, dtype=float))
    words = ["apple", "river", "guitar", "planet", "tiger", "castle", "engine", "forest", "pencil", "rocket",
             "violin", "desert", "island", "candle", "mirror", "garden", "window", "bridge", "cloud", "marble"]
    text = pd.DataFrame({"title": [f"{words[i % len(words)]} {words[(3 * i + 1) % len(words)]}" for i in range(n_items)],
                         "year": [str(1990 + i) for i in range(n_items)]})
    return InteractionDataset(name="successor", interactions=inter, n_users=n_users, n_items=n_items,
                              user_ids=np.arange(n_users).astype(str).astype(object),
                              item_ids=np.arange(n_items).astype(str).astype(object), item_text=text,
                              split_protocol="loo_time")
