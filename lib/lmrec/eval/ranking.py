"""Full-ranking evaluation: one implementation for every method.

Scores for a batch of users come from ``score_fn(user_ids) -> [B, n_items]`` on the device; seen items
are set to -inf, one ``topk`` gives the ranked lists, and all metrics are tensor ops over the batch.
Written by hand rather than with ranx/torchmetrics because those take per-query Python structures; this
stays on the device with no loop over users (the test suite cross-checks it against torchmetrics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from .protocol import Protocol

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class EvalResult:
    metrics: dict[str, float]
    protocol: Protocol
    n_users: int
    split: str
    per_user: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    history_masked: bool = True   # False: nothing was masked before ranking (evaluate with exclude=None)

    def caption(self) -> str:
        return f"{self.split}: {self.n_users} users; {self.protocol.caption(self.history_masked)}"


def _rows_coords(mat: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch row, column) coordinates of the non-zeros of ``mat[rows]``, on the device."""
    sub = mat[rows].tocoo()
    return (torch.as_tensor(sub.row, dtype=torch.long, device=device),
            torch.as_tensor(sub.col, dtype=torch.long, device=device))


def _rows_to_dense(mat: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    dense = torch.zeros(len(rows), mat.shape[1], dtype=torch.bool, device=device)
    r, c = _rows_coords(mat, rows, device)
    if len(r):
        dense[r, c] = True
    return dense


def pessimistic_scores(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Scores in float64 with each finite target score lowered by half the gap to the next lower float32
    value: a target now ranks after every item that had the same score, while every strict order of the
    float32 scores is kept (the shifted value stays above the next lower float32 number)."""
    s32 = scores.float()
    below = s32 - torch.nextafter(s32, torch.full_like(s32, -torch.inf))  # the gap to the next lower float32
    shift = torch.where(targets & torch.isfinite(s32), below.double() / 2, torch.zeros((), dtype=torch.float64,
                                                                                         device=s32.device))
    return s32.double() - shift


@torch.no_grad()
def rank_metrics(scores: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...],
                 recall_denominator: str = "n_relevant", ndcg_ideal: str = "relevant") -> dict[str, torch.Tensor]:
    """Per-user metrics from a score matrix ``[B, n_items]`` (masked entries already -inf) and a boolean
    target matrix of the same shape. Returns ``{"recall@K": tensor[B], ..., "mrr": tensor[B]}``.

    Ties are ranked pessimistically for every metric: a target goes after every item with the same score
    (:func:`pessimistic_scores`), so a model that scores everything alike earns nothing."""
    scores = pessimistic_scores(scores, targets)
    max_k = min(max(ks), scores.shape[1])
    top = torch.topk(scores, max_k, dim=1)
    # a masked (-inf) item can enter the top-k only when fewer than k items are left; it never counts as a hit
    hits = (targets.gather(1, top.indices) & (top.values > -torch.inf)).float()  # [B, max_k]
    t_rows, t_cols = targets.nonzero(as_tuple=True)  # the few target coordinates
    n_rel = torch.bincount(t_rows, minlength=scores.shape[0]).float()
    discounts = 1.0 / torch.log2(torch.arange(2, max_k + 2, device=scores.device, dtype=torch.float32))
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        kk = min(k, max_k)
        h = hits[:, :kk]
        n_hit = h.sum(1)
        denom = n_rel if recall_denominator == "n_relevant" else torch.clamp(n_rel, max=k)
        out[f"recall@{k}"] = n_hit / denom.clamp(min=1)
        out[f"precision@{k}"] = n_hit / k
        out[f"hit@{k}"] = (n_hit > 0).float()
        dcg = (h * discounts[:kk]).sum(1)
        ideal_len = (torch.clamp(n_rel, max=kk) if ndcg_ideal == "relevant" else n_hit).long()
        idcg = torch.cumsum(discounts[:kk], 0)[(ideal_len - 1).clamp(min=0)]
        out[f"ndcg@{k}"] = torch.where(ideal_len > 0, dcg / idcg, torch.zeros_like(dcg))
    # MRR over the full ranking: 1 / rank of the best-ranked target (rank = 1 + #items scored higher; after
    # the pessimistic shift a tied non-target counts as higher).
    # The best target's score per user from the target coordinates, not a dense where+max pass; counting
    # the higher-scored items through a uint8 view with an int32 accumulator is ~3x faster than a bool sum.
    best_target = torch.full((scores.shape[0],), -torch.inf, device=scores.device, dtype=scores.dtype)
    best_target = best_target.scatter_reduce(0, t_rows, scores[t_rows, t_cols], reduce="amax")
    rank = 1 + (scores > best_target[:, None]).view(torch.uint8).sum(1, dtype=torch.int32).float()
    out["mrr"] = torch.where(n_rel > 0, 1.0 / rank, torch.zeros_like(rank))
    return out


@torch.no_grad()
def evaluate(score_fn: ScoreFn, targets: sp.csr_matrix, exclude: sp.csr_matrix | None, protocol: Protocol,
             device: torch.device | str = "cpu", batch_size: int = 1024, split: str = "test",
             keep_per_user: bool = False) -> EvalResult:
    """Full ranking of all items for every user with targets.

    ``targets``: users x items matrix of held-out items; ``exclude``: items to mask with -inf (training
    items, plus validation items when the protocol says so; the caller builds it with :func:`exclusion`).
    """
    device = torch.device(device)
    n_rel = np.asarray(targets.getnnz(axis=1)).ravel()
    users = np.flatnonzero(n_rel > 0)
    sums: dict[str, float] = {}
    per_user: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        scores = score_fn(torch.as_tensor(batch, device=device)).float()
        if exclude is not None:  # out of place: score_fn may return a tensor the model still holds
            scores = scores.index_put(_rows_coords(exclude, batch, scores.device), torch.tensor(-torch.inf, device=scores.device))
        metrics = rank_metrics(scores, _rows_to_dense(targets, batch, scores.device), protocol.ks,
                               protocol.recall_denominator, protocol.ndcg_ideal)
        for name, values in metrics.items():
            sums[name] = sums.get(name, 0.0) + float(values.sum())
            if keep_per_user:
                per_user.setdefault(name, []).append(values.cpu().numpy())
    n = max(1, len(users))
    return EvalResult(metrics={k: v / n for k, v in sorted(sums.items())}, protocol=protocol, n_users=len(users),
                      split=split, per_user={k: np.concatenate(v) for k, v in per_user.items()},
                      history_masked=exclude is not None)


def exclusion(dataset, split: str, protocol: Protocol) -> sp.csr_matrix:
    """The items to mask when evaluating ``split`` of an :class:`~lmrec.data.InteractionDataset`."""
    if split == "valid":
        return dataset.matrix("train")
    if split == "test":
        return dataset.matrix(("train", "valid")) if protocol.mask_valid_at_test else dataset.matrix("train")
    raise ValueError(f"split must be 'valid' or 'test', got {split!r}")


def evaluate_split(score_fn: ScoreFn, dataset, split: str, protocol: Protocol, device: torch.device | str = "cpu",
                   batch_size: int = 1024, keep_per_user: bool = False) -> EvalResult:
    """Evaluate ``score_fn`` on the valid or test split of ``dataset`` under ``protocol``."""
    return evaluate(score_fn, dataset.matrix(split), exclusion(dataset, split, protocol), protocol, device,
                    batch_size, split, keep_per_user)
