"""Leave-one-out sequence access, padding and batching for sequential recommenders.

Under the ``loo_time`` split every user's last item is the test target and the second-to-last the
validation target. The history a model sees is the training sequence when predicting the validation item
and training + validation when predicting the test item (the standard leave-one-out protocol of SASRec,
Recformer and LEARN).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data import InteractionDataset


@dataclass
class LeaveOneOut:
    """Per-user histories and targets of a leave-one-out dataset.

    ``train``: training sequences (time order); ``valid_target`` / ``test_target``: the held-out item per
    user (-1 where a user has none).
    """

    train: list[np.ndarray]
    valid_target: np.ndarray
    test_target: np.ndarray
    n_items: int

    @classmethod
    def from_dataset(cls, dataset: InteractionDataset) -> LeaveOneOut:
        """Read the sequences of ``dataset``; raises when a user holds more than one valid/test item."""
        train = dataset.sequences("train")
        targets = {}
        for split in ("valid", "test"):
            seqs = dataset.sequences(split)
            lengths = np.array([len(s) for s in seqs])
            if (lengths > 1).any():
                user = int(np.flatnonzero(lengths > 1)[0])
                raise ValueError(
                    f"dataset {dataset.name}: user {user} has {lengths[user]} {split} items; the sequential "
                    f"protocol needs leave-one-out (load it with split='loo_time' or a leave-one-out format)")
            targets[split] = np.array([s[0] if len(s) else -1 for s in seqs], dtype=np.int64)
        return cls(train=train, valid_target=targets["valid"], test_target=targets["test"], n_items=dataset.n_items)

    @property
    def n_users(self) -> int:
        return len(self.train)

    def history(self, split: str) -> list[np.ndarray]:
        """What a model sees when predicting ``split``: train items for ``valid``; train + valid for
        ``test``; for ``train`` the training sequence itself (whose items are the training targets)."""
        if split in ("train", "valid"):
            return self.train
        if split == "test":
            return [np.append(s, v) if v >= 0 else s for s, v in zip(self.train, self.valid_target)]
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")

    def targets(self, split: str) -> np.ndarray:
        if split == "valid":
            return self.valid_target
        if split == "test":
            return self.test_target
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")


def pad_sequences(seqs: Sequence[np.ndarray], max_len: int, side: str = "left", pad_value: int = 0,
                  recent_first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad/truncate item sequences to ``max_len``; keeps the most recent ``max_len`` items.

    ``side="left"`` puts padding before the items (the last position is then the most recent item, as a
    causal user tower reads it); ``"right"`` after. ``recent_first`` reverses each kept sequence (Recformer
    orders a user's items most recent first). Returns ``(ids [N, max_len] long, mask [N, max_len] bool)``
    where ``mask`` is True on real items.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    ids = torch.full((len(seqs), max_len), pad_value, dtype=torch.long)
    mask = torch.zeros((len(seqs), max_len), dtype=torch.bool)
    for row, seq in enumerate(seqs):
        kept = np.asarray(seq, dtype=np.int64)[-max_len:]
        if recent_first:
            kept = kept[::-1]
        n = len(kept)
        if n == 0:
            continue
        sl = slice(max_len - n, max_len) if side == "left" else slice(0, n)
        ids[row, sl] = torch.tensor(kept.tolist(), dtype=torch.long)
        mask[row, sl] = True
    return ids, mask


def next_item_pairs(seqs: Sequence[np.ndarray], min_history: int = 1, max_pairs_per_user: int | None = None
                    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Every (prefix, next item) pair of the training sequences: ``seq[:t] -> seq[t]`` for t >= min_history.

    ``max_pairs_per_user`` keeps each user's last pairs only. Returns ``(prefixes, targets, users)``.
    """
    prefixes: list[np.ndarray] = []
    targets: list[int] = []
    users: list[int] = []
    for user, seq in enumerate(seqs):
        ts = range(max(1, min_history), len(seq))
        if max_pairs_per_user is not None:
            ts = ts[-max_pairs_per_user:] if max_pairs_per_user > 0 else range(0)
        for t in ts:
            prefixes.append(seq[:t])
            targets.append(int(seq[t]))
            users.append(user)
    return prefixes, np.asarray(targets, dtype=np.int64), np.asarray(users, dtype=np.int64)


def iterate_batches(n: int, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                    drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index batches over ``range(n)`` (a permutation from ``generator`` when ``shuffle``)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]
