"""Softmax losses of the two-tower sequential recommenders (Recformer, LEARN).

In-batch softmax: row i's positive is column i; the other targets of the batch are its negatives. When the
same item is the target of two rows, it is not a negative for either: those logits are masked to -inf
(LEARN's "duplicate targets masked"; Recformer's code does the same through its label matrix).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def in_batch_logits(user: torch.Tensor, item: torch.Tensor, target_ids: torch.Tensor | None = None,
                    scale: float = 20.0) -> torch.Tensor:
    """``scale * user @ item.T`` ([B, B]) with off-diagonal entries whose target equals the row's target
    set to -inf (when ``target_ids`` [B] is given)."""
    logits = scale * user @ item.T
    if target_ids is not None:
        same = target_ids[:, None] == target_ids[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    return logits


def in_batch_softmax_loss(user: torch.Tensor, item: torch.Tensor, target_ids: torch.Tensor | None = None,
                          scale: float = 20.0) -> torch.Tensor:
    """Mean cross-entropy of :func:`in_batch_logits` against the diagonal."""
    logits = in_batch_logits(user, item, target_ids, scale)
    return F.cross_entropy(logits, torch.arange(len(user), device=user.device))


def full_softmax_loss(user: torch.Tensor, item_table: torch.Tensor, target_ids: torch.Tensor,
                      scale: float = 20.0, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over the whole catalogue: ``scale * user @ item_table.T`` against ``target_ids``.

    ``exclude`` ([B, n_items] bool, optional) masks items that must not act as negatives (e.g. history)."""
    logits = scale * user @ item_table.T
    if exclude is not None:
        keep_target = F.one_hot(target_ids, item_table.shape[0]).bool()
        logits = logits.masked_fill(exclude & ~keep_target, float("-inf"))
    return F.cross_entropy(logits, target_ids)
