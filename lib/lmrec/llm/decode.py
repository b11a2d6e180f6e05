"""Batched decoding that drops finished rows: the local backend's generation loop (transformers engine).

Hugging Face ``generate`` computes every row of a batch until the longest one ends; with answers of ~100 tokens
and a few rows running to the 200-token budget, about half of its decode work went to rows already finished.
:func:`generate_shrinking` does what ``generate`` does (same forward calls, same processors, same picks) and,
after each step, removes the rows that just wrote a stop token: their rows of the KV cache
(``DynamicCache.batch_select_indices``), input ids, position ids and attention mask go, and the per-row JSON
matchers of :class:`lmrec.llm.constrain.SchemaLogitsProcessor` are addressed by the rows' original indices.

What it keeps from ``generate`` (transformers 5.x):

- left padding: position ids are the attention mask's running count (``cumsum - 1``, 0 on padding); the 2D mask
  grows by a column of ones a step, and is left out (``None``) when the prompts hold no padding at all;
- prefill with ``logits_to_keep=1``, then one token a step; logits taken in float32;
- greedy: ``argmax``; sampled: the schema mask, then temperature, top-k (the generation config's, else 50),
  top-p warpers in ``generate``'s order, softmax, and ``torch.multinomial`` over a tensor with one row for every
  row of the original batch (finished rows hold a dummy distribution), so the random stream a seed gives is
  drawn as ``generate`` draws it and a surviving row receives the same random numbers;
- a row ends at its first stop token (returned with it) or at ``max_new_tokens``.

A row's tokens therefore equal ``generate``'s up to float rounding: once rows leave, the matrix products run on
fewer rows and can round differently in the last bit, which can flip a near-tie pick late in a sequence
(measured on SmolLM2 in bench/results/llm_throughput.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch


class RowProcessor(Protocol):
    """Masks the scores of the live rows. ``rows``: each live row's index in the original batch; ``last``: the
    token each one took at the previous step (``None`` at the first step); ``scores``: ``(len(rows), vocab)``."""

    def mask_rows(self, rows: Sequence[int], last: Sequence[int] | None, scores: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Sampling:
    """Sampling settings as ``generate`` applies them (``top_k`` 0 or ``None``: no top-k warper)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = 50

    @classmethod
    def like_generate(cls, model: Any, temperature: float, top_p: float) -> Sampling:
        """The warpers ``model.generate(do_sample=True, temperature=..., top_p=...)`` builds: top-k from the model's
        generation config, else transformers' global default of 50."""
        top_k = getattr(getattr(model, "generation_config", None), "top_k", None)
        return cls(temperature=temperature, top_p=top_p, top_k=50 if top_k is None else top_k)

    def warpers(self) -> list[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
        from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        out: list[Any] = []
        if self.temperature is not None and self.temperature != 1.0:
            out.append(TemperatureLogitsWarper(self.temperature))
        if self.top_k is not None and self.top_k != 0:
            out.append(TopKLogitsWarper(top_k=self.top_k, min_tokens_to_keep=1))
        if self.top_p is not None and self.top_p < 1.0:
            out.append(TopPLogitsWarper(top_p=self.top_p, min_tokens_to_keep=1))
        return out


@torch.inference_mode()
def generate_shrinking(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
                       stop_ids: Iterable[int], processor: RowProcessor | None = None,
                       sampling: Sampling | None = None,
                       on_step: Callable[[int], None] | None = None) -> list[list[int]]:
    """New token ids of each row of a left-padded batch (a stopped row ends with its stop token), decoding only
    the rows still running. ``sampling=None`` is greedy; sampled decoding draws from torch's global generator
    (seed it before the call, as before ``generate``). ``on_step(n_rows)`` is called before each forward call
    (for tests and benchmarks)."""
    from transformers import DynamicCache

    n, device = input_ids.shape[0], input_ids.device
    stops = torch.tensor(sorted(set(stop_ids)), dtype=input_ids.dtype, device=device)
    attention_mask = attention_mask.to(device)
    position = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
    mask = None if bool((attention_mask == 1).all()) else attention_mask
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    warpers = sampling.warpers() if sampling is not None else []
    rows = list(range(n))                 # original index of each live row
    out: list[list[int]] = [[] for _ in range(n)]
    ids, last = input_ids, None
    for step in range(max_new_tokens):
        if on_step is not None:
            on_step(len(rows))
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position, cache=cache, use_cache=True,
                       logits_to_keep=1, return_dict=True).logits
        scores = logits[:, -1].to(copy=True, dtype=torch.float32)
        del logits
        if processor is not None:
            scores = processor.mask_rows(rows, last, scores)
        if sampling is None:
            tokens = torch.argmax(scores, dim=-1)
        else:
            for warp in warpers:
                scores = warp(None, scores)
            probs = torch.softmax(scores, dim=-1)
            # one row per original row: the random numbers are drawn for the whole batch, as generate draws them
            full = probs.new_zeros((n, probs.shape[1]))
            full[:, 0] = 1.0
            full[rows] = probs
            tokens = torch.multinomial(full, num_samples=1).squeeze(1)[rows]
        picked = tokens.tolist()
        for r, t in zip(rows, picked):
            out[r].append(t)
        if step == max_new_tokens - 1:
            break
        running = ~torch.isin(tokens, stops)
        ids = tokens[:, None]
        position = position[:, -1:] + 1
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        if not bool(running.all()):
            keep = running.nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            cache.batch_select_indices(keep)
            ids, position = ids[keep], position[keep]
            mask = mask[keep] if mask is not None else None
            kept = keep.tolist()
            rows = [rows[k] for k in kept]
            picked = [picked[k] for k in kept]
        last = picked
    return out
