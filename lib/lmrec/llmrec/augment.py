"""LLMRec's three augmentations run through the LLM layer (:mod:`lmrec.llm`): cached, resumable, counted.

* :func:`base_candidates`: top-k items per user of a trained base recommender, training items excluded;
* :func:`generate_structured`: a batch of prompts -> parsed values, with retries (sampling at a
  temperature, a new seed per try) and one failure record per prompt that never parsed;
* :func:`augment_pairs` (order-invariant choice, see :mod:`.choice`), :func:`augment_profiles`,
  :func:`augment_attributes`: the three stages;
* :func:`pair_quality`: how often the picked positive (negative) is a held-out item of the user, next to
  the chance rate over the candidates.

Every call goes through :func:`lmrec.llm.chat.generate_chat`, so each finished answer is in the response
cache at once: a rerun repeats no finished call and an interrupted stage resumes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..llm.cache import KVCache
from ..llm.chat import ChatRequest, GenParams, StageStats, generate_chat
from ..llm.constrain import fit_caps, string_fields_schema
from ..llm.structured import EMPTY_VALUES, continuation_prefill
from .choice import candidate_orders, choose_pair, parse_scores, position_prior
from .parsing import (
    ATTRIBUTE_FIELDS,
    PROFILE_FIELDS,
    AugmentParseError,
    parse_attributes,
    parse_pair,
    parse_profile,
)
from .prompts import (
    AugmentPrompt,
    history_items,
    implicit_feedback_prompt,
    item_attribute_prompt,
    user_profile_prompt,
)


@dataclass
class StructuredBatch:
    """Parsed values aligned to the prompts (``None`` where every try failed), failures, statistics."""

    values: list[Any]
    raw: list[str]
    failures: list[dict] = field(default_factory=list)
    stats: StageStats = field(default_factory=StageStats)
    tries_used: list[int] = field(default_factory=list)

    @property
    def failure_rate(self) -> float:
        return len(self.failures) / max(1, len(self.values))

    def summary(self, prefix: str) -> dict[str, float]:
        out = self.stats.summary(prefix)
        out[f"{prefix}n"] = float(len(self.values))
        out[f"{prefix}failed"] = float(len(self.failures))
        out[f"{prefix}failure_rate"] = self.failure_rate
        out[f"{prefix}parsed_first_try"] = float(sum(1 for t in self.tries_used if t == 1))
        return out


def generate_structured(backend, prompts: Sequence[AugmentPrompt], parse: Callable[[str, AugmentPrompt], Any],
                   gen: GenParams, retries: int = 1, retry_temperature: float = 0.7,
                   cache: KVCache | None = None, desc: str = "llm", progress: bool = True,
                   continue_fields: Sequence[str] = ()) -> StructuredBatch:
    """Ask every prompt, parse the answer; prompts whose answer fails to parse are asked again up to
    ``retries`` times with sampling (``retry_temperature``, seed = try number, so each try is a distinct,
    cached call). The answer given to ``parse`` is ``prefill + completion`` for backends that honour the
    prefill (``supports_prefill``: local), the bare completion otherwise.

    With ``continue_fields`` (the JSON object's fields in order) and a prefill-capable backend, a failed
    answer whose object already holds the first fields is not asked again from scratch: the retry is
    prefilled with those fields and the next key (:func:`lmrec.llm.structured.continuation_prefill`), so a
    small model that ran out of tokens or lost the format mid-object only writes what is missing.

    With ``gen.json_schema`` and a backend that enforces it (``backend.constrains(gen)``), prompts go without
    prefill and without continuation: the answer is the object (or its prefix, when the token budget cut it);
    the retries still re-ask what fails the parser's checks (a cut object, an age that is no number)."""
    n = len(prompts)
    values: list[Any] = [None] * n
    raw = [""] * n
    tries = [0] * n
    errors: dict[int, str] = {}
    stats = StageStats()
    constrained = getattr(backend, "constrains", lambda g: False)(gen)
    use_prefill = getattr(backend, "supports_prefill", False) and not constrained
    prefills = [p.prefill for p in prompts]
    pending = list(range(n))
    for attempt in range(retries + 1):
        if not pending:
            break
        g = gen if attempt == 0 else replace(gen, temperature=retry_temperature, seed=attempt)
        reqs = [ChatRequest(messages=[{"role": "user", "content": prompts[i].text}],
                            prefill=prefills[i] if use_prefill else "", id=str(i)) for i in pending]
        chat = generate_chat(backend, reqs, g, cache=cache, progress=progress, desc=f"{desc} (try {attempt + 1})")
        stats.add(chat.stats)
        still = []
        for i, res in zip(pending, chat.results):
            tries[i] = attempt + 1
            if res.error is not None:
                errors[i] = f"backend error: {res.error}"
                still.append(i)
                continue
            text = (prefills[i] if use_prefill else "") + res.text
            raw[i] = text
            try:
                values[i] = parse(text, prompts[i])
                errors.pop(i, None)
            except AugmentParseError as err:
                errors[i] = str(err)
                still.append(i)
                if continue_fields and use_prefill:
                    prefills[i] = _continuation(text, continue_fields, prompts[i].prefill)
        pending = still
    stats.requests = n  # prompts, not calls (calls counts every try)
    failures = [{"index": i, "error": errors[i], "answer": raw[i][:300]} for i in sorted(errors)]
    return StructuredBatch(values=values, raw=raw, failures=failures, stats=stats, tries_used=tries)


def _continuation(text: str, fields: Sequence[str], first_prefill: str) -> str:
    """The prefill of the next try: the answer's leading ``"field": "value"`` pairs (in ``fields`` order,
    string values, read up to the first field that is missing, not a string, or cut off) and the next key;
    the prompt's own prefill when there is no such pair or all fields were there (a later check failed)."""
    pos = len(text) - len(text.lstrip())
    if not text.startswith("{", pos):
        return first_prefill
    pos += 1
    done: dict[str, str] = {}
    for f in fields:
        m = re.compile(r'\s*"' + re.escape(f) + r'"\s*:\s*"((?:[^"\\]|\\.)*)"\s*(,|\})').match(text, pos)
        if not m or not m.group(1).strip() or m.group(1).strip().lower() in EMPTY_VALUES:
            break
        try:
            done[f] = json.loads(f'"{m.group(1)}"').strip()
        except json.JSONDecodeError:  # an invalid escape: treat as missing
            break
        pos = m.end()
        if m.group(2) == "}":
            break
    if not done or len(done) == len(fields):
        return first_prefill
    return continuation_prefill(done, fields)


@torch.no_grad()
def base_candidates(score_fn: Callable[[torch.Tensor], torch.Tensor], train: sp.csr_matrix, k: int,
                    users: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
    """``[len(users), k]`` top-k item ids per user by ``score_fn``, the user's training items excluded."""
    users = np.arange(train.shape[0]) if users is None else np.asarray(users)
    out = []
    for start in range(0, len(users), batch_size):
        b = users[start:start + batch_size]
        scores = score_fn(torch.as_tensor(b)).float().cpu()
        sub = train[b].tocoo()
        scores[torch.as_tensor(sub.row, dtype=torch.long), torch.as_tensor(sub.col, dtype=torch.long)] = -torch.inf
        out.append(torch.topk(scores, k, dim=1).indices.numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


@dataclass
class PairBatch:
    """The implicit-feedback stage: per-user pairs over ALL users (``-1`` where not asked or failed), the
    LLM run (one prompt per user and shown order), and per asked user its orders and their scores."""

    pos: np.ndarray
    neg: np.ndarray
    run: StructuredBatch
    prompts: list[AugmentPrompt]
    orders: list[list[tuple[int, ...]]]
    scores: list[list[np.ndarray | None]]
    prior: np.ndarray | None = None
    calibration: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def summary(self, prefix: str = "pairs_") -> dict[str, float]:
        out = self.run.summary(prefix)
        asked = len(self.orders)
        got = int((self.pos >= 0).sum())  # a user whose orders all failed, or whose scores are all equal, has none
        out.update({f"{prefix}users": float(asked), f"{prefix}users_failed": float(asked - got),
                    f"{prefix}orders_per_user": float(np.mean([len(o) for o in self.orders])) if asked else 0.0,
                    f"{prefix}calibration_users": float(len(self.calibration))})
        if self.prior is not None:
            out.update({f"{prefix}prior_{p}": float(v) for p, v in enumerate(self.prior)})
        return out


def _vote(text: str, prompt: AugmentPrompt) -> np.ndarray:
    """A generated ``liked::disliked`` answer as per-position scores: +1 liked, -1 disliked, 0 the rest."""
    liked, disliked = parse_pair(text, prompt.labels)
    v = np.zeros(len(prompt.labels))
    v[liked], v[disliked] = 1.0, -1.0
    return v


def augment_pairs(backend, dataset, candidates: np.ndarray, users: np.ndarray, gen: GenParams,
                  max_history: int = 10, retries: int = 1, cache: KVCache | None = None,
                  progress: bool = True, label_mode: str = "position", n_orders: int = 1,
                  calibration_users: int = 0, answer: str = "pair") -> PairBatch:
    """Implicit-feedback augmentation: per user one (liked, disliked) pair among its candidates, invariant to
    the order of ``candidates[j]`` (see :mod:`lmrec.llmrec.choice`).

    Each user's candidates are shown in ``n_orders`` rotations of their canonical order; ``calibration_users``
    users (evenly spread over ``users``) are shown all ``k`` rotations and give the position prior subtracted
    from every score (when ``n_orders < k``). ``answer="scores"``: the backend answers with one score per
    label (:class:`~lmrec.llmrec.choice.LabelScoreChat`); ``"pair"``: it writes ``liked::disliked`` (strict
    parse, retried), read as +1/-1 votes."""
    if answer not in ("scores", "pair"):
        raise ValueError(f"answer={answer!r}; use 'scores' (label scores) or 'pair' (liked::disliked)")
    candidates = np.asarray(candidates)
    k = candidates.shape[1] if candidates.ndim == 2 else 0
    n_cal = min(int(calibration_users), len(users)) if n_orders < k else 0
    cal = np.unique(np.linspace(0, len(users) - 1, n_cal).round().astype(np.int64)) if n_cal > 0 else \
        np.zeros(0, dtype=np.int64)
    cal_set = set(cal.tolist())
    seqs = dataset.sequences("train")
    orders, prompts, owner = [], [], []
    for j, u in enumerate(users):
        user_orders = candidate_orders(candidates[j], k if j in cal_set else n_orders)
        orders.append(user_orders)
        hist = history_items(seqs[u], max_history)
        for order in user_orders:
            prompts.append(implicit_feedback_prompt(dataset.item_text, hist, order, label_mode))
            owner.append(j)
    parse = (lambda text, p: parse_scores(text, len(p.labels))) if answer == "scores" else _vote
    run = generate_structured(backend, prompts, parse, gen, retries, cache=cache, desc="implicit feedback",
                         progress=progress)
    scores: list[list[np.ndarray | None]] = [[] for _ in users]
    for j, value in zip(owner, run.values):
        scores[j].append(value)
    prior = None
    if n_cal > 0:
        full = [np.stack(scores[j]) for j in cal if all(s is not None for s in scores[j])]
        prior = position_prior(full) if full else None
    pos = np.full(dataset.n_users, -1, dtype=np.int64)
    neg = np.full(dataset.n_users, -1, dtype=np.int64)
    for j, u in enumerate(users):
        pair = choose_pair(orders[j], scores[j], prior)
        if pair is not None:
            pos[u], neg[u] = pair
    return PairBatch(pos, neg, run, prompts, orders, scores, prior, cal)


def profile_schema(max_chars: int = 60, max_new_tokens: int = 0) -> dict[str, Any]:
    """The JSON schema of a user profile answer: every field a string of at most ``max_chars`` characters (fewer
    where the object must fit ``max_new_tokens``), the age one or two digits (what
    :func:`~lmrec.llmrec.parsing.parse_profile` accepts)."""
    caps = [2] + [max_chars] * (len(PROFILE_FIELDS) - 1)
    schema = string_fields_schema(PROFILE_FIELDS, fit_caps(PROFILE_FIELDS, caps, max_new_tokens) if max_new_tokens
                                  else caps)
    schema["properties"]["age"] = {"type": "string", "pattern": "^[1-9][0-9]?$"}
    return schema


def attribute_schema(max_chars: int = 40, max_new_tokens: int = 0) -> dict[str, Any]:
    """The JSON schema of an item attribute answer (director, country, language), strings of at most
    ``max_chars`` characters (fewer where the object must fit ``max_new_tokens``)."""
    caps = [max_chars] * len(ATTRIBUTE_FIELDS)
    return string_fields_schema(ATTRIBUTE_FIELDS, fit_caps(ATTRIBUTE_FIELDS, caps, max_new_tokens)
                                if max_new_tokens else caps)


def augment_profiles(backend, dataset, users: np.ndarray, gen: GenParams, max_history: int = 10,
                     retries: int = 1, cache: KVCache | None = None, progress: bool = True) -> StructuredBatch:
    """User profiling: one profile dict (see :data:`~lmrec.llmrec.parsing.PROFILE_FIELDS`) per user
    (``gen.json_schema``: e.g. :func:`profile_schema`)."""
    seqs = dataset.sequences("train")
    prompts = [user_profile_prompt(dataset.item_text, history_items(seqs[u], max_history)) for u in users]
    return generate_structured(backend, prompts, lambda text, p: parse_profile(text), gen, retries, cache=cache,
                          desc="user profiles", progress=progress, continue_fields=PROFILE_FIELDS)


def augment_attributes(backend, dataset, items: np.ndarray, gen: GenParams, retries: int = 1,
                       cache: KVCache | None = None, progress: bool = True) -> StructuredBatch:
    """Item attribute completion: director, country, language per item (``gen.json_schema``: e.g.
    :func:`attribute_schema`)."""
    prompts = [item_attribute_prompt(dataset.item_text, int(i)) for i in items]
    return generate_structured(backend, prompts, lambda text, p: parse_attributes(text), gen, retries, cache=cache,
                          desc="item attributes", progress=progress, continue_fields=ATTRIBUTE_FIELDS)


def pair_quality(pos: np.ndarray, neg: np.ndarray, candidates: np.ndarray, users: np.ndarray,
                 heldout: sp.csr_matrix) -> dict[str, float]:
    """Share of users (with a pair) whose picked liked / disliked item is a held-out item of theirs, and the
    chance rate: the share of their candidates that are held-out items."""
    held = sp.csr_matrix(heldout)
    hit_pos = hit_neg = chance = 0.0
    n = 0
    for j, u in enumerate(users):
        if pos[u] < 0:
            continue
        row = set(held.indices[held.indptr[u]:held.indptr[u + 1]].tolist())
        hit_pos += pos[u] in row
        hit_neg += neg[u] in row
        chance += np.mean([c in row for c in candidates[j]])
        n += 1
    n = max(1, n)
    return {"pos_is_heldout": hit_pos / n, "neg_is_heldout": hit_neg / n, "candidate_heldout_rate": chance / n}
