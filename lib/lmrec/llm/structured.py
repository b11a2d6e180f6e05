"""Structured (JSON) output: decoding constrained to the schema where the backend can, else tolerant parsing and
repair retries; explicit failure records either way."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from string import Template
from typing import Any

from .cache import KVCache
from .chat import ChatBackend, ChatRequest, GenParams, StageStats, generate_chat
from .prompts import load_template

EMPTY_VALUES = ("", "none", "null", "n/a", "...")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


class JSONParseError(ValueError):
    """No usable JSON object: the message says what was wrong (shown to the model in the repair turn).

    ``partial`` holds the required fields that were present and non-empty in the best object found (in
    ``required`` order), so a prefill-capable backend can be asked to continue from there.
    """

    def __init__(self, problem: str, partial: dict[str, str] | None = None):
        super().__init__(problem)
        self.partial = partial or {}


def _objects(text: str) -> list[Any]:
    """Every JSON object that decodes starting at some ``{`` in ``text``."""
    dec = json.JSONDecoder()
    found = []
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def parse_json_object(text: str, required: Sequence[str], prefill: str = "",
                      close_truncated: bool = True, prompt: str = "", echo_words: int = 5) -> dict[str, str]:
    """The first JSON object in ``text`` (or ``prefill + text``) whose ``required`` fields are non-empty strings.

    Tolerates code fences and prose around the object. With ``close_truncated``, an object cut off inside
    its last string (``max_new_tokens`` reached) is closed with ``"}`` and accepted if every required
    field is then present and non-empty. A value of at least ``echo_words`` words that appears verbatim in
    ``prompt`` (e.g. the template's field description copied back) counts as empty. Raises
    :class:`JSONParseError` naming the problem.
    """
    norm_prompt = _norm(prompt)

    def usable(v: object) -> bool:
        if not isinstance(v, str) or v.strip().lower() in EMPTY_VALUES:
            return False
        n = _norm(v)
        return not (norm_prompt and len(n.split()) >= echo_words and n in norm_prompt)

    candidates = [prefill + text, text] if prefill else [text]
    candidates += [m.group(1) for c in list(candidates) for m in _FENCE.finditer(c)]
    if close_truncated:
        closed = [c.rstrip() + tail for c in candidates for tail in ('"}', '}', '""}')]
        for c in candidates:  # cut back to one of the last closing quotes: '..."x", "reaso' -> '..."x"}'
            quotes = [m.start() for m in re.finditer('"', c)][-4:]
            closed += [c[:q + 1] + "}" for q in reversed(quotes)]
        candidates += closed
    problem = "it contained no JSON object"
    partial: dict[str, str] = {}
    for cand in candidates:
        for obj in _objects(cand):
            good = {k: obj[k].strip() for k in required if usable(obj.get(k))}
            if len(good) == len(required):
                return {k: (v.strip() if isinstance(v, str) else v) for k, v in obj.items()}
            missing = [k for k in required if k not in obj]
            bad = [k for k in required if k in obj and k not in good]
            problem = (f"the JSON object lacked the field(s) {missing}" if missing
                       else f"the field(s) {bad} were empty, not strings, or copied from the instruction")
            # keep the longest prefix of required fields that is usable (what a continuation can extend)
            prefix = {}
            for k in required:
                if k not in good:
                    break
                prefix[k] = good[k]
            if len(prefix) > len(partial):
                partial = prefix
    raise JSONParseError(problem, partial)


def continuation_prefill(partial: dict[str, str], required: Sequence[str]) -> str:
    """The JSON text of the usable fields, opened for the next missing one: ``{"a": "x", "b": "``."""
    nxt = next(k for k in required if k not in partial)
    body = json.dumps(partial, ensure_ascii=False)[:-1]
    return (body + ", " if partial else "{") + json.dumps(nxt) + ': "'


@dataclass
class StructuredResult:
    """Parsed objects (``None`` where it failed) and the failure records ``{id, raw, problem}``."""

    values: list[dict[str, str] | None]
    failures: list[dict[str, Any]]
    stats: StageStats = field(default_factory=StageStats)
    repaired: int = 0


def generate_json(backend: ChatBackend, requests: Sequence[ChatRequest], required: Sequence[str],
                  gen: GenParams, cache: KVCache | None = None, max_repairs: int = 1, progress: bool = True,
                  desc: str = "llm", continue_partial: bool = True, retry_temperature: float = 0.7) -> StructuredResult:
    """Ask for JSON objects of ``required`` string fields.

    When ``gen.json_schema`` is set and the backend enforces it (``backend.constrains(gen)``: the local
    transformers engine; an endpoint that accepts ``response_format``), the requests go without prefill and
    without repair turns: the answer is the object, or its prefix when ``max_new_tokens`` cut it (closed by the
    parser when the required fields are there, else a failure whose problem says so); a reply that parses but fails
    the checks (a field copied from the instruction) is asked again, the same request sampled at temperature
    ``retry_temperature`` (seed = round), up to ``max_repairs`` times. Otherwise failures are re-asked with a
    repair instruction up to ``max_repairs`` times.

    The repair turn shows the model its own reply and what was wrong; repairs go through the same cache.
    With ``continue_partial``, a backend with ``supports_prefill`` and a prefilled request, a reply whose object holds the first
    required fields but lacks later ones is instead continued: the same prompt, prefilled with those fields
    and the next key (``{"summarization": "...", "reasoning": "``), a form of guided decoding.
    What still fails is returned as a failure record, never as an (empty) value.
    """
    repair_tpl = Template(load_template("repair"))
    constrains = getattr(backend, "constrains", lambda g: False)
    if constrains(gen):
        requests = [ChatRequest(messages=list(r.messages), id=r.id) for r in requests]  # the schema opens the object
    values: list[dict[str, str] | None] = [None] * len(requests)
    last_raw = [""] * len(requests)
    problems = [""] * len(requests)
    current = list(requests)
    pending = list(range(len(requests)))
    stats = StageStats()
    repaired = 0
    for round_ in range(max_repairs + 1):
        g = replace(gen, temperature=retry_temperature, seed=round_) if round_ and constrains(gen) else gen
        run = generate_chat(backend, [current[i] for i in pending], g, cache=cache, progress=progress,
                       desc=desc if round_ == 0 else f"{desc} repair {round_}")
        stats.add(run.stats)
        next_pending = []
        for i, res in zip(pending, run.results):
            req = current[i]
            if res.error is not None:
                problems[i], last_raw[i] = f"call failed: {res.error}", ""
                continue  # a failed call is not repaired by rephrasing; reported below
            last_raw[i] = res.text
            try:
                prompt = "\n".join(m["content"] for m in requests[i].messages)
                values[i] = parse_json_object(res.text, required, prefill=req.prefill, prompt=prompt)
                repaired += round_ > 0
            except JSONParseError as err:
                problems[i] = str(err)
                reply = req.prefill + res.text
                if (continue_partial and getattr(backend, "supports_prefill", False) and requests[i].prefill
                        and err.partial):
                    current[i] = ChatRequest(messages=list(requests[i].messages), id=req.id,
                                             prefill=continuation_prefill(err.partial, required))
                    next_pending.append(i)
                    continue
                if constrains(gen):  # the schema holds the format: sample the same request again
                    next_pending.append(i)
                    continue
                current[i] = ChatRequest(
                    messages=[*req.messages, {"role": "assistant", "content": reply},
                              {"role": "user", "content": repair_tpl.substitute(problem=problems[i])}],
                    prefill=requests[i].prefill, id=req.id)
                next_pending.append(i)
        pending = next_pending
        if not pending:
            break
    stats.requests = len(requests)
    stats.failures = sum(v is None for v in values)
    failures = [{"id": requests[i].id, "raw": last_raw[i], "problem": problems[i]}
                for i, v in enumerate(values) if v is None]
    return StructuredResult(values=values, failures=failures, stats=stats, repaired=repaired)


class LLMStageFailed(RuntimeError):
    """Too many requests of an LLM stage failed: the stage ends failed and publishes nothing."""


def check_failure_rate(stage: str, failures: Sequence[dict[str, Any]], total: int, max_rate: float) -> float:
    """The share of failed requests of a stage; raises :class:`LLMStageFailed` above ``max_rate``.

    The message counts the failures, quotes the first failed call's error (which names the endpoint URL) and
    says what a re-run does: answers that succeeded are cached, so only the failed calls are made again."""
    rate = len(failures) / max(1, total)
    if rate <= max_rate:
        return rate
    problems = [str(f.get("problem") or f.get("error") or "") for f in failures]
    calls = [p for p in problems if p.startswith("call failed") or " from http" in p]
    example = (calls or problems or [""])[0]
    raise LLMStageFailed(
        f"{stage}: {len(failures)} of {total} requests failed ({rate:.0%}), more than MAX_FAILURE_RATE={max_rate}; "
        f"{len(calls)} of them were failed calls; first: {example[:400]}. Nothing was published for the next "
        "notebooks. Fix the endpoint or model (or raise MAX_FAILURE_RATE) and re-run: answers that succeeded are "
        "cached, so only the failed calls are made again.")
