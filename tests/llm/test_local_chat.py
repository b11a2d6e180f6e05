"""The local backend with a tiny random Llama: batching, alignment, cache hits, stats."""

from __future__ import annotations

import pytest
import torch

from lmrec.llm.chat import (
    ChatRequest,
    GenParams,
    LocalChat,
    StageStats,
    generate_chat,
    request_key,
    response_cache,
)
from lmrec.llm.hf import tiny_random_causal_lm


@pytest.fixture(scope="module")
def tiny():
    return tiny_random_causal_lm(hidden=32, layers=2)


def _requests():
    return [ChatRequest([{"role": "user", "content": "word " * n}], prefill='{"a": "', id=str(n))
            for n in (7, 1, 12, 3, 5)]


def test_tiny_model_shapes(tiny):
    model, tok = tiny
    assert model.config.vocab_size == len(tok) and model.config.hidden_size == 32
    assert model.config.num_hidden_layers == 2 and tok.padding_side == "left"
    assert "<|im_start|>" in tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)


def test_batched_generation_matches_one_by_one(tiny):
    model, tok = tiny
    gen = GenParams(max_new_tokens=6)
    reqs = _requests()
    out1, outb = {}, {}
    LocalChat("tiny", model_obj=model, tokenizer=tok, batch_size=1).generate(reqs, gen, lambda i, r: out1.update({i: r}))
    LocalChat("tiny", model_obj=model, tokenizer=tok, batch_size=4).generate(reqs, gen, lambda i, r: outb.update({i: r}))
    assert sorted(out1) == sorted(outb) == list(range(5))
    for i in range(5):  # left padding + attention mask: the same greedy tokens, aligned to the request
        assert out1[i].text == outb[i].text
        assert out1[i].completion_tokens == outb[i].completion_tokens <= 6 + 1
        assert outb[i].prompt_tokens == len(tok(LocalChat("t", model_obj=model, tokenizer=tok).prompt_text(reqs[i]),
                                                 add_special_tokens=False)["input_ids"])
    assert outb[2].prompt_tokens > outb[0].prompt_tokens > outb[1].prompt_tokens


def test_second_run_is_all_cache_hits(tiny, tmp_path):
    model, tok = tiny
    backend = LocalChat("tiny", model_obj=model, tokenizer=tok, batch_size=2)
    cache = response_cache(tmp_path / "r.sqlite")
    gen = GenParams(max_new_tokens=4)
    reqs = _requests() + [_requests()[0]]  # a duplicate is called once
    first = generate_chat(backend, reqs, gen, cache=cache, progress=False)
    assert (first.stats.calls, first.stats.cache_hits, first.stats.failures) == (5, 0, 0)
    assert first.stats.completion_tokens > 0 and first.stats.prompt_tokens > 0
    second = generate_chat(backend, reqs, gen, cache=cache, progress=False)
    assert (second.stats.calls, second.stats.cache_hits) == (0, 6)
    assert [r.text for r in second.results] == [r.text for r in first.results]
    assert all(r.cached for r in second.results)
    # other generation parameters are other calls
    third = generate_chat(backend, reqs[:2], GenParams(max_new_tokens=5), cache=cache, progress=False)
    assert third.stats.calls == 2


def test_cache_key_depends_on_messages_prefill_params_and_model(tiny):
    model, tok = tiny
    a = LocalChat("tiny-a", model_obj=model, tokenizer=tok)
    b = LocalChat("tiny-b", model_obj=model, tokenizer=tok)
    r = ChatRequest([{"role": "user", "content": "x"}], prefill="{")
    g = GenParams()
    keys = {request_key(a, r, g), request_key(b, r, g), request_key(a, ChatRequest(r.messages), g),
            request_key(a, r, GenParams(temperature=0.7)),
            request_key(a, ChatRequest([{"role": "user", "content": "y"}], prefill="{"), g)}
    assert len(keys) == 5
    assert request_key(a, ChatRequest([{"role": "user", "content": "x"}], prefill="{", id="other"), g) == \
        request_key(a, r, g)  # the bookkeeping id is not part of the key


def test_stage_stats_summary_throughput():
    s = StageStats(requests=4, calls=4, completion_tokens=100, wall_s=2.0)
    s.add(StageStats(requests=1, cache_hits=1))
    m = s.summary("x_")
    assert m["x_requests"] == 5 and m["x_cache_hits"] == 1
    assert m["x_calls_per_s"] == pytest.approx(2.0) and m["x_completion_tok_per_s"] == pytest.approx(50.0)


def test_sampling_is_seeded(tiny):
    model, tok = tiny
    backend = LocalChat("tiny", model_obj=model, tokenizer=tok, batch_size=2)
    reqs = _requests()[:2]
    gen = GenParams(max_new_tokens=8, temperature=1.0, seed=3)
    runs = []
    for _ in range(2):
        out = {}
        backend.generate(reqs, gen, lambda i, r, out=out: out.update({i: r.text}))
        runs.append(out)
    assert runs[0] == runs[1]
    torch.manual_seed(0)
