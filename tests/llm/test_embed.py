"""Embedding backends: MiniLM offline default with the content cache; the OpenAI embeddings path over HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lmrec.llm.embed import EmbedConfig, embed_texts, parse_embeddings_response


def test_minilm_default_is_384d_cached_and_semantic():
    texts = ["a space adventure with aliens", "science fiction in outer space", "a cooking recipe book"]
    stats: dict[str, int] = {}
    vecs = embed_texts(texts + [texts[0]], EmbedConfig(), stats=stats)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    np.testing.assert_array_equal(vecs[0], vecs[3])
    assert stats == {"embedded": 3, "cache_hits": 1}
    cos = vecs[:3] @ vecs[:3].T
    assert cos[0, 1] > cos[0, 2] + 0.1  # the two space texts are closer than space vs cooking
    again: dict[str, int] = {}
    np.testing.assert_array_equal(embed_texts(texts, EmbedConfig(), stats=again), vecs[:3])
    assert again == {"embedded": 0, "cache_hits": 3}


class _Embeddings(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible /v1/embeddings server: the official payload shape (object/data/index/
    embedding/model/usage), data returned in REVERSED order to check index alignment, vectors from text."""

    calls: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        type(self).calls.append(inputs)
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), float(i), 1.0]}
                for i, t in enumerate(inputs)][::-1]
        out = json.dumps({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 7, "total_tokens": 7}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture()
def embeddings_server():
    _Embeddings.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_embeddings_over_http_align_batch_and_cache(embeddings_server):
    cfg = EmbedConfig(backend="openai", model="text-embedding-ada-002", base_url=embeddings_server,
                      api_key="sk-test", batch_size=2)
    texts = ["a", "bbb", "cc"]
    vecs = embed_texts(texts, cfg)
    np.testing.assert_array_equal(vecs, np.array([[1, 0, 1], [3, 1, 1], [2, 0, 1]], dtype=np.float32))
    assert _Embeddings.calls == [["a", "bbb"], ["cc"]]  # batches of 2
    embed_texts(texts, cfg)
    assert len(_Embeddings.calls) == 2  # all cached
    norm = embed_texts(["dddd"], EmbedConfig(**{**cfg.__dict__, "normalize": True}))
    assert np.linalg.norm(norm[0]) == pytest.approx(1.0)


def test_parse_embeddings_response_orders_by_index_and_rejects_gaps():
    out = parse_embeddings_response([{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}], 2)
    np.testing.assert_array_equal(out, [[1.0], [2.0]])
    with pytest.raises(ValueError, match="no vector for inputs"):
        parse_embeddings_response([{"index": 0, "embedding": [1.0]}], 2)


def test_openai_backend_without_key_or_url_says_what_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        embed_texts(["x"], EmbedConfig(backend="openai", model="m", cache=False))
