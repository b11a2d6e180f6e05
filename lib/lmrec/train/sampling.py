"""Uniform negative sampling on the device, vectorised: no Python loop over interactions. Shared by every
method that trains on (user, positive, negative) triples (the CF trainer, SASRec's BCE loss).

Each training pair ``(u, i)`` gets one item ``j`` drawn uniformly from the items ``u`` has not
interacted with in training (RLMRec/SSLRec's ``PairwiseTrnData.sample_negs``, done per epoch). Draws
that hit a training item are re-drawn in vectorised rounds; membership is a ``searchsorted`` over the
sorted keys ``u * n_items + i``.
"""

from __future__ import annotations

import torch


class NegativeSampler:
    """Samples negatives for users against a fixed set of training (user, item) pairs."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_items: int, max_rounds: int = 100) -> None:
        self.n_items = int(n_items)
        self.keys = torch.unique(users.long() * self.n_items + items.long())  # sorted
        self.max_rounds = max_rounds
        counts = torch.bincount(users.long())
        if len(counts) and int(counts.max()) >= self.n_items:
            raise ValueError("a user has interacted with every item; no negative item exists for that user")

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Boolean mask: whether each (user, item) pair is a training interaction."""
        q = users.long() * self.n_items + items.long()
        pos = torch.searchsorted(self.keys, q).clamp(max=self.keys.numel() - 1)
        return self.keys[pos] == q

    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One uniform negative item per entry of ``users`` (same device)."""
        neg = torch.randint(self.n_items, users.shape, device=users.device, generator=generator)
        bad = self.is_positive(users, neg)
        for _ in range(self.max_rounds):
            if not bool(bad.any()):
                return neg
            idx = bad.nonzero().squeeze(1)
            neg[idx] = torch.randint(self.n_items, idx.shape, device=users.device, generator=generator)
            bad[idx] = self.is_positive(users[idx], neg[idx])
        raise RuntimeError(f"negative sampling did not finish in {self.max_rounds} rounds; are some users "
                           "connected to almost every item?")
