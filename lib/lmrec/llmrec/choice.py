"""Implicit-feedback pairs that do not depend on the order the candidates are shown in.

An LLM asked to pick among listed candidates prefers some list positions (the offline 135M model put
"liked" at position 1-2 and "disliked" at 6 for 23 of 24 users, whatever the movies). Here a user's
candidates are first put in a canonical order (sorted item ids), so the choice is a function of the
candidate SET. They are then shown in ``n_orders`` cyclic rotations of that order, evenly spaced
(:func:`candidate_orders`; with ``n_orders = k`` every candidate takes every position once, a Latin
square). Each shown order yields one score per position (:class:`LabelScoreChat`: the log-probability of
each position label as the first answer token; a generated ``liked::disliked`` answer gives +1/-1). A
candidate's score is the mean over the orders of its position's score minus the position's prior
(:func:`choose_pair`); the liked item is the top-scored candidate, the disliked one the bottom one.

The prior (:func:`position_prior`) is the mean score of each position over users scored in all ``k``
rotations (each candidate once per position, so what is left is the position's own pull). Subtracting it
debiases a single order (PriDe, Zheng et al., ICLR'24, *Large Language Models Are Not Robust Multiple
Choice Selectors*); with all ``k`` rotations it changes nothing (each candidate gets every position's prior
once) and additive position effects cancel exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..llm.chat import ChatRequest, ChatResult, GenParams, LocalChat
from .parsing import AugmentParseError


def candidate_orders(candidates: Sequence[int], n_orders: int) -> list[tuple[int, ...]]:
    """The canonical order (sorted ids) and its cyclic rotations by ``r * k // n_orders`` (``r < n_orders``):
    ``n_orders`` orders with distinct shifts; ``n_orders = k`` puts every candidate at every position once."""
    canon = sorted(int(c) for c in candidates)
    k = len(canon)
    if len(set(canon)) != k:
        raise ValueError(f"candidates {list(candidates)} contain duplicates")
    if not 1 <= n_orders <= k:
        raise ValueError(f"n_orders={n_orders}: use 1..{k} (the number of candidates)")
    return [tuple(canon[(p + r * k // n_orders) % k] for p in range(k)) for r in range(n_orders)]


def candidate_scores(orders: Sequence[Sequence[int]], scores: Sequence[Sequence[float] | None],
                     prior: np.ndarray | None = None) -> dict[int, float]:
    """``item -> mean over the scored orders of (score at its position - prior of that position)``;
    ``scores[r]`` holds one value per position of ``orders[r]`` (``None``: that order failed)."""
    total: dict[int, float] = {}
    count: dict[int, int] = {}
    for order, s in zip(orders, scores):
        if s is None:
            continue
        s = np.asarray(s, dtype=np.float64) - (0.0 if prior is None else np.asarray(prior, dtype=np.float64))
        if s.shape != (len(order),):
            raise ValueError(f"{s.shape[0] if s.ndim else 0} scores for an order of {len(order)} candidates")
        for item, v in zip(order, s):
            total[item] = total.get(item, 0.0) + float(v)
            count[item] = count.get(item, 0) + 1
    return {item: total[item] / count[item] for item in sorted(total)}


def choose_pair(orders: Sequence[Sequence[int]], scores: Sequence[Sequence[float] | None],
                prior: np.ndarray | None = None) -> tuple[int, int] | None:
    """(liked, disliked) item ids: the highest and lowest :func:`candidate_scores` (ties: the smaller id);
    ``None`` when no order was scored."""
    per_item = candidate_scores(orders, scores, prior)
    if len(per_item) < 2:
        return None
    items = list(per_item)  # sorted ids, so ties go to the smaller id
    vals = np.array([per_item[i] for i in items])
    liked, disliked = items[int(np.argmax(vals))], items[int(np.argmin(vals))]
    if liked == disliked:  # all equal: no preference to read
        return None
    return liked, disliked


def position_prior(full_scores: Sequence[np.ndarray]) -> np.ndarray:
    """Per-position prior from users scored in all ``k`` rotations: ``full_scores[j]`` is ``[k, k]``
    (rotation x position); the prior is the mean over users and rotations, centred to mean 0."""
    mats = [np.asarray(m, dtype=np.float64) for m in full_scores if m is not None and np.all(np.isfinite(m))]
    if not mats:
        raise ValueError("position_prior needs at least one user scored in every rotation")
    k = mats[0].shape[1]
    if any(m.shape != (k, k) for m in mats):
        raise ValueError(f"position_prior: every matrix must be [k, k] = [{k}, {k}] (all rotations scored)")
    prior = np.mean([m.mean(0) for m in mats], axis=0)
    return prior - prior.mean()


def format_scores(values: Sequence[float]) -> str:
    """The text a scoring backend answers with: space-separated scores, 4 decimals."""
    return " ".join(f"{float(v):.4f}" for v in values)


def parse_scores(text: str, k: int) -> np.ndarray:
    """Read ``k`` finite scores written by :func:`format_scores`."""
    try:
        vals = np.array([float(t) for t in str(text).split()], dtype=np.float64)
    except ValueError as err:
        raise AugmentParseError(f"label scores {str(text)[:80]!r} are not numbers: {err}") from err
    if vals.shape != (k,) or not np.all(np.isfinite(vals)):
        raise AugmentParseError(f"expected {k} finite label scores, got {str(text)[:80]!r}")
    return vals


class LabelScoreChat:
    """A chat backend that answers with the log-probability (log-softmax over the labels) of each label in
    ``labels`` as the first answer token, from one forward pass; text as :func:`format_scores`. Labels
    must start with distinct tokens (the 0-based position labels ``0``..``9`` do)."""

    kind = "local"
    supports_prefill = True  # the prefill ends the scored prompt, as in LocalChat

    def __init__(self, chat: LocalChat, labels: Sequence[str]) -> None:
        self.chat, self.labels = chat, [str(lb) for lb in labels]
        self.model = f"{chat.model}+label-scores"
        tok = chat.tokenizer
        firsts = [tok(lb, add_special_tokens=False)["input_ids"][0] for lb in self.labels]
        if len(set(firsts)) != len(firsts):
            raise ValueError(f"labels {self.labels} do not start with distinct tokens; use single-digit position "
                             "labels (at most 10 candidates) for label scoring")
        self.label_ids = torch.as_tensor(firsts)

    def cache_identity(self) -> dict[str, Any]:
        return {**self.chat.cache_identity(), "mode": "label_log_softmax", "labels": self.labels}

    @torch.inference_mode()
    def generate(self, requests: Sequence[ChatRequest], gen: GenParams,
                 on_result: Callable[[int, ChatResult], None]) -> None:
        tok, lm = self.chat.tokenizer, self.chat.lm
        ids = tok([self.chat.prompt_text(r) for r in requests], add_special_tokens=False)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.chat.batch_size):
            idx = order[start:start + self.chat.batch_size]
            batch = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")  # left padding
            mask = batch["attention_mask"].to(self.chat.device)
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            try:
                logits = lm(input_ids=batch["input_ids"].to(self.chat.device), attention_mask=mask,
                            position_ids=pos).logits[:, -1, :]
            except Exception as err:  # keep the stage going; the failure is recorded per request
                for i in idx:
                    on_result(i, ChatResult(error=f"{type(err).__name__}: {err}"))
                continue
            scores = torch.log_softmax(logits[:, self.label_ids.to(logits.device)].float(), dim=-1).cpu()
            for row, i in enumerate(idx):
                on_result(i, ChatResult(text=format_scores(scores[row].tolist()), prompt_tokens=len(ids[i]),
                                        completion_tokens=0, finish_reason="label_scores"))
