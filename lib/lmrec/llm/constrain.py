"""Decoding constrained to a JSON schema (llguidance): every completion of a local model is a prefix of a valid object.

:func:`string_fields_schema` builds the schema of the stages' answers (an object of required string fields, in
order, each with a length cap). :class:`SchemaLogitsProcessor` plugs into ``transformers``' ``generate``: per row
of the batch an ``llguidance.LLMatcher`` consumes the token just generated and masks every token the schema does
not allow next (:meth:`SchemaLogitsProcessor.mask_rows` serves a batch whose finished rows leave, addressing the
matchers by the rows' original indices), so greedy or sampled decoding can only write the object (and then the end-of-turn token).
What can still go wrong is the token budget (``max_new_tokens`` reached inside the object: counted as
truncated). The JSON layout is fixed to ``json.dumps``' separators (``{"a": "x", "b": "y"}``), no free
whitespace, so a small model cannot fill its budget with blanks.

llguidance was chosen by measurement (bench/results/llm_throughput.md): a 3 MB abi3 wheel with no dependencies,
masks computed in Rust in microseconds per token; xgrammar needs triton (a 286 MB wheel) on Linux x86-64;
lm-format-enforcer computes masks in Python.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def string_fields_schema(fields: Sequence[str], max_chars: Sequence[int] | int | None = None,
                         min_chars: int = 1) -> dict[str, Any]:
    """A JSON schema: an object with exactly ``fields`` (required, in order), each a string of at least
    ``min_chars`` (at most its cap) and at most ``max_chars`` characters (one cap for all, one per field, or
    ``None``/0 for no cap). A minimum of a dozen characters keeps a small model from answering "None"."""
    caps = [max_chars] * len(fields) if max_chars is None or isinstance(max_chars, int) else list(max_chars)
    if len(caps) != len(fields):
        raise ValueError(f"{len(caps)} length caps for {len(fields)} fields {list(fields)}")
    props = {}
    for f, cap in zip(fields, caps):
        low = max(1, min(min_chars, cap)) if cap else max(1, min_chars)
        props[f] = {"type": "string", "minLength": low, **({"maxLength": int(cap)} if cap else {})}
    return {"type": "object", "properties": props, "required": list(fields), "additionalProperties": False}


CHARS_PER_TOKEN = 3.5  # a cautious figure for English prose with SmolLM2's BPE (about 4.2 on profiles)


def fit_caps(fields: Sequence[str], caps: Sequence[int], max_new_tokens: int) -> list[int]:
    """Length caps (characters) that let the whole object fit ``max_new_tokens``: ``caps`` as given when they
    fit, else scaled down in proportion (at least 4 characters each). The object's own tokens (braces, keys,
    quotes, separators, end token) are counted as 4 + one per 4 key characters + 3 per field (SmolLM2: 38 for
    the 7-field LLMRec profile, whose empty object is 39 tokens + the end token; 16 for the RLMRec profile, 12 + 1)."""
    overhead = 4 + sum(len(f) // 4 + 3 for f in fields)
    room = int(max(0, max_new_tokens - overhead) * CHARS_PER_TOKEN)
    total = sum(caps)
    if total <= room:
        return [int(c) for c in caps]
    return [max(4, int(c * room / total)) for c in caps]


_TOKENIZERS: dict[tuple[int, int], Any] = {}


def guidance_tokenizer(tokenizer: Any, n_vocab: int) -> Any:
    """The llguidance view of a Hugging Face fast tokenizer (built once per tokenizer object and vocab size, ~1 s)."""
    try:
        import llguidance.hf
    except ImportError as err:  # a pinned dependency; only a broken environment lacks it
        raise ImportError("constrained decoding needs the `llguidance` package: pip install -e . "
                          "(it is pinned in pyproject.toml)") from err
    key = (id(tokenizer), n_vocab)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab,
                                                         eos_token=tokenizer.eos_token_id)
    return _TOKENIZERS[key]


def compile_schema(schema: dict[str, Any]) -> str:
    """The llguidance grammar of ``schema`` with the fixed JSON layout; ``ValueError`` names a schema it refuses."""
    import llguidance

    grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=JSON_LAYOUT)
    bad, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    if bad:
        raise ValueError(f"JSON schema {json.dumps(schema)[:200]} is not usable for constrained decoding: {messages}")
    return grammar


class SchemaLogitsProcessor:
    """A ``transformers`` logits processor that keeps each row of a batch inside ``schema``.

    ``prompt_len`` is the (padded) prompt length of the batch: tokens after it are the completion, fed to the
    row's matcher one per step. A row whose object is complete may only take the end token (then transformers
    pads it); a matcher that errs (cannot happen with the mask applied) is counted in :attr:`errors` and its
    row, too, may only end."""

    def __init__(self, tokenizer: Any, schema: dict[str, Any], batch_size: int, prompt_len: int, n_vocab: int):
        import llguidance

        self.lt = guidance_tokenizer(tokenizer, n_vocab)
        grammar = compile_schema(schema)
        self.matchers = [llguidance.LLMatcher(self.lt, grammar) for _ in range(batch_size)]
        self.prompt_len, self.n_vocab = prompt_len, n_vocab
        self.words = (n_vocab + 31) // 32
        self.bitmask = torch.full((batch_size, self.words), -1, dtype=torch.int32)
        self.errors = 0
        self._dead = [False] * batch_size
        self.end_only = torch.zeros(self.words, dtype=torch.int32)
        eos = tokenizer.eos_token_id
        self.end_only[eos // 32] = torch.tensor(1 << (eos % 32), dtype=torch.int64).to(torch.int32)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_len
        last = input_ids[:, -1].tolist() if step > 0 else None
        return self.mask_rows(range(len(self.matchers)), last, scores)

    def mask_rows(self, rows: Sequence[int], last: Sequence[int] | None, scores: torch.Tensor) -> torch.Tensor:
        """Mask ``scores`` (one row per entry of ``rows``, the rows' indices in the batch this processor was made
        for): each row's matcher first consumes ``last[i]``, the token that row took at the previous step
        (``None`` at the first step). Used by :func:`lmrec.llm.decode.generate_shrinking`, whose batch loses
        its finished rows, and by ``__call__`` (``generate``: every row, every step)."""
        from llguidance.torch import fill_next_token_bitmask

        bitmask = self.bitmask[:len(rows)]
        bitmask.fill_(-1)
        for i, row in enumerate(rows):
            m = self.matchers[row]
            if not self._dead[row] and last is not None and not m.is_stopped():
                if not m.consume_token(last[i]) or m.is_error():
                    self._dead[row] = True
                    self.errors += 1
            if self._dead[row] or m.is_stopped():
                bitmask[i] = self.end_only
            else:
                fill_next_token_bitmask(m, bitmask, i)
        bits = np.unpackbits(bitmask.numpy().view(np.uint8), axis=1, bitorder="little")[:, :scores.shape[1]]
        banned = torch.from_numpy(bits == 0).to(scores.device)
        return scores.masked_fill_(banned, float("-inf"))
