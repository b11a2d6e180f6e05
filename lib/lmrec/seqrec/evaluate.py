"""Evaluate sequential recommenders with the one full-ranking evaluator (:func:`lmrec.eval.evaluate_split`).

``SEQ_PROTOCOL``: K in (10, 50), Recall denominator |T| (= 1 under leave-one-out, so Recall@K = Hit@K),
and the whole history masked: training items at validation, training + validation items at test. The
headline metrics are NDCG@10, Recall@10 and MRR (plus @50), as in Recformer and LEARN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..data import InteractionDataset
from ..eval import EvalResult, Protocol, evaluate, evaluate_split
from .data import LeaveOneOut, pad_sequences

SEQ_PROTOCOL = Protocol(ks=(10, 50), recall_denominator="n_relevant", mask_valid_at_test=True)
HEADLINE = ("ndcg@10", "recall@10", "mrr", "ndcg@50", "recall@50")
VALID_KEYS = ("ndcg@10", "recall@10", "mrr")  # what a training history records per validation

# ``encode(ids [B, L] long, mask [B, L] bool) -> user vectors [B, d]``
HistoryEncoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def vector_score_fn(user_vectors: torch.Tensor, item_table: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``score_fn`` for the evaluator: dot products of precomputed user vectors with the item table."""
    def score(user_ids: torch.Tensor) -> torch.Tensor:
        return user_vectors[user_ids.to(user_vectors.device)] @ item_table.T
    return score


@torch.no_grad()
def encode_histories(encode: HistoryEncoder, loo: LeaveOneOut, split: str, max_len: int,
                     device: torch.device | str = "cpu", batch_size: int = 256, side: str = "left",
                     pad_value: int = 0) -> torch.Tensor:
    """User vectors ``[n_users, d]`` from each user's history for ``split`` (users without history get
    their row from an all-padding input)."""
    ids, mask = pad_sequences(loo.history(split), max_len, side=side, pad_value=pad_value)
    out = []
    for start in range(0, len(ids), batch_size):
        out.append(encode(ids[start:start + batch_size].to(device), mask[start:start + batch_size].to(device)))
    return torch.cat(out)


def evaluate_user_vectors(user_vectors: torch.Tensor, item_table: torch.Tensor, dataset: InteractionDataset,
                          split: str, protocol: Protocol = SEQ_PROTOCOL, device: torch.device | str = "cpu",
                          batch_size: int = 1024, mask_history: bool = True) -> EvalResult:
    """Full-ranking metrics of ``user_vectors @ item_table.T`` on ``split`` of ``dataset``.

    ``mask_history=False`` ranks the target among all items, history included, as Recformer's ``Ranker`` and
    RecBole's sequential full-sort evaluation do (a target the user already had can then be retrieved)."""
    if item_table.shape[0] != dataset.n_items:
        raise ValueError(f"item_table has {item_table.shape[0]} rows but dataset {dataset.name} has {dataset.n_items} items")
    if user_vectors.shape[0] != dataset.n_users:
        raise ValueError(f"user_vectors has {user_vectors.shape[0]} rows but dataset {dataset.name} has {dataset.n_users} users")
    score = vector_score_fn(user_vectors.to(device), item_table.to(device))
    if not mask_history:
        return evaluate(score, dataset.matrix(split), None, protocol, device, batch_size, split)
    return evaluate_split(score, dataset, split, protocol, device, batch_size)


def evaluate_encoder(encode: HistoryEncoder, item_table: torch.Tensor, dataset: InteractionDataset, split: str,
                     max_len: int, protocol: Protocol = SEQ_PROTOCOL, device: torch.device | str = "cpu",
                     batch_size: int = 256, side: str = "left", pad_value: int = 0,
                     loo: LeaveOneOut | None = None, mask_history: bool = True) -> EvalResult:
    """Encode every user's history for ``split`` and evaluate against ``item_table``."""
    loo = loo or LeaveOneOut.from_dataset(dataset)
    users = encode_histories(encode, loo, split, max_len, device, batch_size, side, pad_value)
    return evaluate_user_vectors(users, item_table, dataset, split, protocol, device, mask_history=mask_history)


def sequential_metrics(result: EvalResult, prefix: str = "") -> dict[str, float]:
    """The headline metrics of an :class:`EvalResult` (optionally prefixed, e.g. ``valid_``)."""
    return {f"{prefix}{k}": float(result.metrics[k]) for k in HEADLINE if k in result.metrics}
