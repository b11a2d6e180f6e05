"""LLMRec's three augmentations run through the LLM layer (:mod:`lmrec.llm`): cached, resumable, counted.

* :func:`base_candidates`: top-k items per user of a trained base recommender, training items excluded;
* :func:`run_structured`: a batch of prompts -> parsed values, with retries (sampling at a
  temperature, a new seed per try) and one failure record per prompt that never parsed;
* :func:`augment_pairs`, :func:`augment_profiles`, :func:`augment_attributes`: the three stages;
* :func:`pair_quality`: how often the picked positive (negative) is a held-out item of the user, next to
  the chance rate over the candidates.

Every call goes through :func:`lmrec.llm.chat.run_chat`, so each finished answer is in the response
cache at once: a rerun repeats no finished call and an interrupted stage resumes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..llm.cache import KVCache
from ..llm.chat import ChatRequest, GenParams, StageStats, run_chat
from ..llm.structured import EMPTY_VALUES, continuation_prefill
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
class StructuredRun:
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


def run_structured(backend, prompts: Sequence[AugmentPrompt], parse: Callable[[str, AugmentPrompt], Any],
                   gen: GenParams, retries: int = 1, retry_temperature: float = 0.7,
                   cache: KVCache | None = None, desc: str = "llm", progress: bool = True,
                   continue_fields: Sequence[str] = ()) -> StructuredRun:
    """Ask every prompt, parse the answer; prompts whose answer fails to parse are asked again up to
    ``retries`` times with sampling (``retry_temperature``, seed = try number, so each try is a distinct,
    cached call). The answer given to ``parse`` is ``prefill + completion`` for backends that honour the
    prefill (``supports_prefill``: local), the bare completion otherwise.

    With ``continue_fields`` (the JSON object's fields in order) and a prefill-capable backend, a failed
    answer whose object already holds the first fields is not asked again from scratch: the retry is
    prefilled with those fields and the next key (:func:`lmrec.llm.structured.continuation_prefill`), so a
    small model that ran out of tokens or lost the format mid-object only writes what is missing."""
    n = len(prompts)
    values: list[Any] = [None] * n
    raw = [""] * n
    tries = [0] * n
    errors: dict[int, str] = {}
    stats = StageStats()
    use_prefill = getattr(backend, "supports_prefill", False)
    prefills = [p.prefill for p in prompts]
    pending = list(range(n))
    for attempt in range(retries + 1):
        if not pending:
            break
        g = gen if attempt == 0 else GenParams(max_new_tokens=gen.max_new_tokens, temperature=retry_temperature,
                                               top_p=gen.top_p, seed=attempt, json_mode=gen.json_mode)
        reqs = [ChatRequest(messages=[{"role": "user", "content": prompts[i].text}],
                            prefill=prefills[i] if use_prefill else "", id=str(i)) for i in pending]
        chat = run_chat(backend, reqs, g, cache=cache, progress=progress, desc=f"{desc} (try {attempt + 1})")
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
    return StructuredRun(values=values, raw=raw, failures=failures, stats=stats, tries_used=tries)


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


def augment_pairs(backend, dataset, candidates: np.ndarray, users: np.ndarray, gen: GenParams,
                  max_history: int = 10, retries: int = 1, cache: KVCache | None = None,
                  progress: bool = True, label_mode: str = "position") -> tuple[np.ndarray, np.ndarray, StructuredRun, list[AugmentPrompt]]:
    """Implicit-feedback augmentation: per user one (liked, disliked) pair among its candidates.

    Returns per-user arrays over ALL users (``-1`` where not asked or failed), the run, and the prompts."""
    seqs = dataset.sequences("train")
    prompts = [implicit_feedback_prompt(dataset.item_text, history_items(seqs[u], max_history), candidates[j],
                                       label_mode)
               for j, u in enumerate(users)]
    run = run_structured(backend, prompts, lambda text, p: parse_pair(text, p.labels), gen, retries,
                         cache=cache, desc="implicit feedback", progress=progress)
    pos = np.full(dataset.n_users, -1, dtype=np.int64)
    neg = np.full(dataset.n_users, -1, dtype=np.int64)
    for j, u in enumerate(users):
        if run.values[j] is not None:
            li, di = run.values[j]
            pos[u], neg[u] = prompts[j].candidates[li], prompts[j].candidates[di]
    return pos, neg, run, prompts


def augment_profiles(backend, dataset, users: np.ndarray, gen: GenParams, max_history: int = 10,
                     retries: int = 1, cache: KVCache | None = None, progress: bool = True) -> StructuredRun:
    """User profiling: one profile dict (see :data:`~lmrec.llmrec.parsing.PROFILE_FIELDS`) per user."""
    seqs = dataset.sequences("train")
    prompts = [user_profile_prompt(dataset.item_text, history_items(seqs[u], max_history)) for u in users]
    return run_structured(backend, prompts, lambda text, p: parse_profile(text), gen, retries, cache=cache,
                          desc="user profiles", progress=progress, continue_fields=PROFILE_FIELDS)


def augment_attributes(backend, dataset, items: np.ndarray, gen: GenParams, retries: int = 1,
                       cache: KVCache | None = None, progress: bool = True) -> StructuredRun:
    """Item attribute completion: director, country, language per item."""
    prompts = [item_attribute_prompt(dataset.item_text, int(i)) for i in items]
    return run_structured(backend, prompts, lambda text, p: parse_attributes(text), gen, retries, cache=cache,
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
