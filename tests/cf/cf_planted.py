"""A tiny dataset with planted structure shared by the CF tests: two user groups, each liking its own half of
the items; the held-out items are drawn from the same halves, so a working model beats chance by far."""

from __future__ import annotations

import numpy as np

from lmrec.data import InteractionDataset, make_interactions


def planted_dataset(n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 0) -> InteractionDataset:
    rng = np.random.default_rng(seed)
    half = n_items // 2
    users, items, splits = [], [], []
    for u in range(n_users):
        group = u % 2
        pool = np.arange(group * half, (group + 1) * half)
        chosen = rng.choice(pool, size=per_user, replace=False)
        for k, i in enumerate(chosen):
            users.append(u)
            items.append(int(i))
            splits.append("valid" if k == 0 else "test" if k == 1 else "train")
    frame = make_interactions(np.array(users), np.array(items), np.array(splits, dtype=object))
    return InteractionDataset("planted", frame, n_users, n_items, np.arange(n_users), np.arange(n_items))


def planted_profiles(dataset: InteractionDataset, dim: int = 12, seed: int = 1):
    """Profile embeddings that encode the group of each user/item (plus noise)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(2, dim, generator=g)
    ug = torch.arange(dataset.n_users) % 2
    ig = (torch.arange(dataset.n_items) >= dataset.n_items // 2).long()
    return (centers[ug] + 0.1 * torch.randn(dataset.n_users, dim, generator=g),
            centers[ig] + 0.1 * torch.randn(dataset.n_items, dim, generator=g))
