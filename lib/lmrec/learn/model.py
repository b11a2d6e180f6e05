"""LEARN preference alignment (AAAI'25, arXiv 2405.03988, Sec. 3.3): user tower and item tower.

Frozen content vectors ``e_i`` (from :mod:`.content`) pass through

    h = Transformer_causal(W_a e + b_a)        (adaptor into the tower width, then causal self-attention)
    z = normalize(W_o h + b_o)                  (projection to the output space, L2-normalised)

The user tower reads a user's history ``e_{i_1..i_n}`` (right padded, causal mask) and takes ``z`` at the
last real position; the item tower is the same network applied to a single item (sequence of length 1).
Scores are cosine similarities, scaled by the logit scale (20) inside the losses.

As in the released code the transformer has no position embeddings (order enters through the causal mask
only; ``position_embeddings=True`` adds learned ones) and is a post-LayerNorm BERT-style encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TowerConfig:
    """Shape of the preference alignment tower (the paper: BERT-base width 768, 4 layers, output 4096); defaults
    equal notebook 40's parameters cell (their documented home; tests/learn checks that they agree)."""

    input_dim: int
    hidden_dim: int = 64
    n_layers: int = 2
    n_heads: int = 2
    ffn_dim: int | None = None     # default 4 * hidden_dim
    output_dim: int = 64
    dropout: float = 0.1
    max_len: int = 40              # history length (the released code keeps the last 40 items)
    position_embeddings: bool = False


class PreferenceAlignment(nn.Module):
    """The shared user/item tower over frozen item content vectors."""

    def __init__(self, config: TowerConfig):
        super().__init__()
        self.config = config
        self.adaptor = nn.Linear(config.input_dim, config.hidden_dim)
        layer = nn.TransformerEncoderLayer(config.hidden_dim, config.n_heads, config.ffn_dim or 4 * config.hidden_dim,
                                           config.dropout, activation="gelu", batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.position = nn.Embedding(config.max_len, config.hidden_dim) if config.position_embeddings else None
        self.out = nn.Linear(config.hidden_dim, config.output_dim)

    def forward(self, embs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-position normalised outputs ``[B, L, output_dim]`` for inputs ``[B, L, input_dim]`` and a
        boolean ``mask`` [B, L] (True on real items, right padded)."""
        length = embs.shape[1]
        x = self.adaptor(embs)
        if self.position is not None:
            x = x + self.position(torch.arange(length, device=x.device))[None]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=x.device), diagonal=1)
        h = self.encoder(x, mask=causal, src_key_padding_mask=~mask)
        return F.normalize(self.out(h), dim=-1)

    def user_vectors(self, embs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """User tower: the output at each row's last real position ``[B, output_dim]`` (right padding).
        A row without items reads one zero vector (its first position is unmasked)."""
        mask = mask.clone()
        mask[:, 0] |= ~mask.any(1)
        last = mask.long().sum(1) - 1
        out = self.forward(embs, mask)
        return out[torch.arange(len(out), device=out.device), last]

    def item_vectors(self, embs: torch.Tensor) -> torch.Tensor:
        """Item tower: each item alone through the same network, ``[N, input_dim] -> [N, output_dim]``."""
        ones = torch.ones(len(embs), 1, dtype=torch.bool, device=embs.device)
        return self.forward(embs[:, None, :], ones)[:, 0]


class LearnModel(nn.Module):
    """The tower plus the frozen content table ``[n_items, input_dim]`` (a buffer, not trained)."""

    def __init__(self, content: torch.Tensor, config: TowerConfig):
        super().__init__()
        if content.shape[1] != config.input_dim:
            raise ValueError(f"content vectors are {content.shape[1]}-d but TowerConfig.input_dim={config.input_dim}")
        self.register_buffer("content", content.float().contiguous(), persistent=False)
        self.tower = PreferenceAlignment(config)

    @property
    def n_items(self) -> int:
        return self.content.shape[0]

    def lookup(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Content vectors of item ids ``[B, L]``; padded positions are zero vectors (as in the released code)."""
        return self.content[ids.clamp(0, self.n_items - 1)] * mask[..., None].to(self.content.dtype)

    def users(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """User vectors from right-padded history ids ``[B, L]`` and their mask."""
        return self.tower.user_vectors(self.lookup(ids, mask), mask)

    def items(self, ids: torch.Tensor | None = None, chunk: int = 4096) -> torch.Tensor:
        """Item-tower vectors of ``ids`` (all items when None), computed in chunks."""
        embs = self.content if ids is None else self.content[ids]
        return torch.cat([self.tower.item_vectors(embs[s:s + chunk]) for s in range(0, len(embs), chunk)])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, target_ids: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(user vectors [B, d], item vectors)``: of the targets ``[B, d]`` when given, else of every item."""
        return self.users(ids, mask), self.items(target_ids)
