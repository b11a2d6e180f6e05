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
                          scale: float = 20.0, log_q: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of :func:`in_batch_logits` against the diagonal.

    ``log_q`` ([n_items], optional) is the logQ correction of sampled softmax (Yi et al., RecSys'19,
    "Sampling-bias-corrected neural modeling"): in-batch negatives are drawn in proportion to how often an
    item is a target, so popular items are pushed down too often; subtracting ``log q(j)`` from column j's
    logit (targets' log-frequency) undoes that bias. Needs ``target_ids``."""
    logits = in_batch_logits(user, item, target_ids, scale)
    if log_q is not None:
        if target_ids is None:
            raise ValueError("the logQ correction needs the batch's target ids")
        logits = logits - log_q[target_ids][None, :]
    return F.cross_entropy(logits, torch.arange(len(user), device=user.device))


def target_log_frequency(sequences, n_items: int) -> torch.Tensor:
    """``log q(j)``: the log of each item's share of all training positions (add-one smoothed), the
    in-batch sampling distribution that :func:`in_batch_softmax_loss`'s logQ correction removes."""
    counts = torch.ones(n_items, dtype=torch.float64)
    for seq in sequences:
        if len(seq):
            counts += torch.bincount(torch.as_tensor(seq, dtype=torch.long), minlength=n_items).double()
    return (counts / counts.sum()).log().float()


def full_softmax_loss(user: torch.Tensor, item_table: torch.Tensor, target_ids: torch.Tensor,
                      scale: float = 20.0, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over the whole catalogue: ``scale * user @ item_table.T`` against ``target_ids``.

    ``exclude`` ([B, n_items] bool, optional) masks items that must not act as negatives (e.g. history)."""
    logits = scale * user @ item_table.T
    if exclude is not None:
        keep_target = F.one_hot(target_ids, item_table.shape[0]).bool()
        logits = logits.masked_fill(exclude & ~keep_target, float("-inf"))
    return F.cross_entropy(logits, target_ids)
