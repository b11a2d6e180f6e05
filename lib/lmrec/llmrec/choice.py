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

from collections.abc import Callable, Iterator, Sequence
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
    must start with distinct tokens (the 0-based position labels ``0``..``9`` do).

    ``share_prefix``: prompts with a common token prefix of at least ``min_prefix`` tokens (a user's rotations:
    everything before the candidate list) run it once per batch and their rests against its cached keys and
    values; the scores are those of whole prompts up to float rounding (tests/llmrec/test_label_prefix.py)."""

    kind = "local"
    supports_prefill = True  # the prefill ends the scored prompt, as in LocalChat

    def __init__(self, chat: LocalChat, labels: Sequence[str], share_prefix: bool = True,
                 min_prefix: int = 16) -> None:
        self.chat, self.labels = chat, [str(lb) for lb in labels]
        self.model = f"{chat.model}+label-scores"
        tok = chat.tokenizer
        firsts = [tok(lb, add_special_tokens=False)["input_ids"][0] for lb in self.labels]
        if len(set(firsts)) != len(firsts):
            raise ValueError(f"labels {self.labels} do not start with distinct tokens; use single-digit position "
                             "labels (at most 10 candidates) for label scoring")
        self.label_ids = torch.as_tensor(firsts)
        self.share_prefix, self.min_prefix = share_prefix, min_prefix

    def cache_identity(self) -> dict[str, Any]:
        return {**self.chat.cache_identity(), "mode": "label_log_softmax", "labels": self.labels}

    def generate(self, requests: Sequence[ChatRequest], gen: GenParams,
                 on_result: Callable[[int, ChatResult], None]) -> None:
        for i, n_tokens, scores in self.iter_scores(requests):
            if isinstance(scores, Exception):
                on_result(i, ChatResult(error=f"{type(scores).__name__}: {scores}"))
            else:
                on_result(i, ChatResult(text=format_scores(scores.tolist()), prompt_tokens=n_tokens,
                                        completion_tokens=0, finish_reason="label_scores"))

    @torch.inference_mode()
    def iter_scores(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, int, torch.Tensor | Exception]]:
        """``(request index, prompt tokens, label log-softmax [float32] or the batch's exception)`` for every
        request, batch by batch (any order). With ``share_prefix``, prompts that share a token prefix
        (:func:`prefix_groups`) are batched together and the prefix is run once per batch."""
        ids = self.chat.tokenizer([self.chat.prompt_text(r) for r in requests], add_special_tokens=False)["input_ids"]
        groups = prefix_groups(ids, self.chat.batch_size, self.min_prefix) if self.share_prefix else \
            [([i], 0) for i in range(len(ids))]
        plain = sorted((g[0][0] for g in groups if len(g[0]) == 1), key=lambda i: len(ids[i]))
        batches: list[tuple[list[int], Callable[[], torch.Tensor]]] = []
        for start in range(0, len(plain), self.chat.batch_size):
            idx = plain[start:start + self.chat.batch_size]
            batches.append((idx, lambda idx=idx: self._plain_logits([ids[i] for i in idx])))
        shared = sorted((g for g in groups if len(g[0]) > 1), key=lambda g: g[1])  # similar prefixes: less padding
        batch: list[tuple[list[int], int]] = []
        for g in shared + [None]:
            if g is None or (batch and sum(len(m) for m, _ in batch) + len(g[0]) > self.chat.batch_size):
                if batch:
                    batches.append(([i for m, _ in batch for i in m],
                                    lambda batch=batch: self._shared_logits(ids, batch)))
                batch = []
            if g is not None:
                batch.append(g)
        for idx, logits_fn in batches:
            try:
                logits = logits_fn()
            except Exception as err:  # keep the stage going; the failure is recorded per request
                for i in idx:
                    yield i, len(ids[i]), err
                continue
            scores = torch.log_softmax(logits[:, self.label_ids.to(logits.device)].float(), dim=-1).cpu()
            for row, i in enumerate(idx):
                yield i, len(ids[i]), scores[row]

    def _left_padded(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``seqs`` as one left-padded batch on the model's device: token ids and attention mask."""
        width = max(len(seq) for seq in seqs)
        ids = torch.full((len(seqs), width), self.chat.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq):] = torch.as_tensor(seq, dtype=torch.long)
            mask[row, width - len(seq):] = 1
        return ids.to(self.chat.device), mask.to(self.chat.device)

    def _plain_logits(self, seqs: list[list[int]]) -> torch.Tensor:
        """Last-position logits of whole prompts, one left-padded batch."""
        ids, mask = self._left_padded(seqs)
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        return self.chat.lm(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits[:, -1, :]

    def _shared_logits(self, ids: list[list[int]], groups: list[tuple[list[int], int]]) -> torch.Tensor:
        """Last-position logits of the members of ``groups`` (``(members, prefix length)``, members in order):
        each group's common prefix is run once, then every member's rest attends to its group's cached prefix.
        Row layout ``[pad][prefix][pad][rest]``: the padding is masked, positions count real tokens only."""
        from transformers import DynamicCache

        lm, dev = self.chat.lm, self.chat.device
        pre_ids, pre_mask = self._left_padded([ids[members[0]][:n] for members, n in groups])
        cache = DynamicCache(config=lm.config.get_text_config(decoder=True))
        lm(input_ids=pre_ids, attention_mask=pre_mask, position_ids=(pre_mask.cumsum(1) - 1).clamp(min=0),
           cache=cache, use_cache=True, logits_to_keep=1)
        owner = [g for g, (members, _) in enumerate(groups) for _ in members]
        rests = [ids[i][n:] for members, n in groups for i in members]
        starts = [n for members, n in groups for _ in members]
        suf_ids, suf_mask = self._left_padded(rests)
        cache.batch_select_indices(torch.as_tensor(owner, device=dev))
        pos = (torch.as_tensor(starts, device=dev)[:, None] + suf_mask.cumsum(1) - 1).clamp(min=0)
        mask = torch.cat([pre_mask[owner], suf_mask], dim=1)
        return lm(input_ids=suf_ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                  logits_to_keep=1).logits[:, -1, :]


def prefix_groups(ids: Sequence[Sequence[int]], max_size: int, min_prefix: int = 16) -> list[tuple[list[int], int]]:
    """Partition prompt indices into groups that share a token prefix, to run each prefix once.

    Returns ``(members, prefix length)`` pairs covering every index once; singletons (prefix 0) are scored
    whole. Prompts are sorted by their tokens (a shared prefix makes a contiguous run) and cut into runs of
    at most ``max_size`` that maximise the prefix tokens saved, ``sum (n - 1) * prefix``, with every prefix
    at least ``min_prefix`` tokens and shorter than each member (each has a token after it)."""
    order = sorted(range(len(ids)), key=lambda i: list(ids[i]))

    def lcp(a: Sequence[int], b: Sequence[int]) -> int:
        n = min(len(a), len(b)) - 1  # leave every member at least one token of its own
        k = 0
        while k < n and a[k] == b[k]:
            k += 1
        return k

    adj = [lcp(ids[order[t]], ids[order[t + 1]]) for t in range(len(order) - 1)]
    n = len(order)
    best = [0] * (n + 1)  # best[t]: tokens saved over the first t sorted prompts
    cut = [0] * (n + 1)   # start of the last run in that optimum
    for t in range(1, n + 1):
        best[t], cut[t] = best[t - 1], t - 1
        pre = None
        for s in range(t - 2, max(-1, t - 1 - max_size), -1):  # run order[s:t], size t - s >= 2
            pre = adj[s] if pre is None else min(pre, adj[s])
            if pre < min_prefix:
                break
            if best[s] + (t - s - 1) * pre > best[t]:
                best[t], cut[t] = best[s] + (t - s - 1) * pre, s
    groups: list[tuple[list[int], int]] = []
    t = n
    while t > 0:
        s = cut[t]
        members = order[s:t]
        groups.append((members, min(adj[s:t - 1]) if len(members) > 1 else 0))
        t = s
    return groups[::-1]
