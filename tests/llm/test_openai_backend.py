"""The openai backend against a real OpenAI-compatible server (``transformers serve`` with SmolLM2) on
127.0.0.1, behind a proxy that injects failures: concurrency, retries, and resume after a killed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from lmrec.llm.cache import KVCache  # noqa: E402
from lmrec.llm.chat import ChatRequest, GenParams, OpenAIChat, generate_chat, request_key, response_cache  # noqa: E402
from lmrec.llm.hf import smollm2_folder  # noqa: E402
from lmrec.llm.serve import start_transformers_serve  # noqa: E402

from .openai_server import FaultProxy  # noqa: E402

pytestmark = pytest.mark.slow
GEN = GenParams(max_new_tokens=3)


@pytest.fixture(scope="module")
def server():
    folder = str(smollm2_folder())
    proc, port = start_transformers_serve(folder)
    proxy = FaultProxy(port)
    yield folder, proxy
    proxy.close()
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _requests(n: int, tag: str) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"{tag}: say the number {i}"}], id=str(i)) for i in range(n)]


def test_concurrent_requests_come_back_aligned_with_usage(server, tmp_path):
    model, proxy = server
    proxy.reset()
    backend = OpenAIChat(model, base_url=proxy.url, api_key="sk-local", concurrency=3, timeout=120)
    run = generate_chat(backend, _requests(6, "conc"), GEN, cache=response_cache(tmp_path / "r.sqlite"), progress=False)
    assert run.stats.calls == 6 and run.stats.failures == 0
    assert all(r.text and r.completion_tokens > 0 and r.prompt_tokens > 0 for r in run.results)
    assert 2 <= proxy.max_in_flight <= 3
    sent = {b["messages"][0]["content"] for b in proxy.forwarded}
    assert sent == {f"conc: say the number {i}" for i in range(6)}
    assert all(b["max_tokens"] == 3 for b in proxy.forwarded)


def test_retries_after_injected_server_errors_and_timeout(server, tmp_path):
    model, proxy = server
    proxy.reset()
    proxy.fail_first = 2  # two HTTP 500s, then fine
    backend = OpenAIChat(model, base_url=proxy.url, api_key="sk-local", concurrency=1, backoff_s=0.05, timeout=120)
    run = generate_chat(backend, _requests(2, "retry"), GEN, progress=False)
    assert run.stats.failures == 0 and run.stats.retries == 2 and len(proxy.forwarded) == 2
    proxy.reset()
    proxy.delay_first, proxy.delay_s = 1, 32.0  # the first request outlives the client timeout
    backend = OpenAIChat(model, base_url=proxy.url, api_key="sk-local", concurrency=1, backoff_s=0.05, timeout=30)
    run = generate_chat(backend, _requests(1, "timeout"), GEN, progress=False)
    assert run.stats.failures == 0 and run.stats.retries >= 1 and run.results[0].text
    proxy.reset()
    proxy.fail_first = 10  # more failures than retries: recorded, not cached
    backend = OpenAIChat(model, base_url=proxy.url, api_key="sk-local", concurrency=1, max_retries=1, backoff_s=0.01)
    cache = response_cache(tmp_path / "f.sqlite")
    run = generate_chat(backend, _requests(1, "fail"), GEN, cache=cache, progress=False)
    assert run.stats.failures == 1 and "InternalServerError" in run.results[0].error and len(cache) == 0


def test_resume_after_killed_run_makes_no_duplicate_calls(server, tmp_path):
    model, proxy = server
    proxy.reset()
    proxy.delay_first, proxy.delay_s = 10_000, 0.3  # every call >= 0.3 s: the kill lands before all 8 are done
    cache_path = tmp_path / "resume.sqlite"
    script = (
        "import sys\n"
        "from lmrec.llm.chat import ChatRequest, GenParams, OpenAIChat, response_cache, generate_chat\n"
        f"reqs = [ChatRequest([{{'role': 'user', 'content': f'resume: say the number {{i}}'}}]) for i in range(8)]\n"
        f"b = OpenAIChat({model!r}, base_url={proxy.url!r}, api_key='sk-local', concurrency=1)\n"
        f"generate_chat(b, reqs, GenParams(max_new_tokens=3), cache=response_cache({str(cache_path)!r}), progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 240

    def n_cached() -> int:
        if not cache_path.exists():
            return 0
        store = KVCache(cache_path)
        n = len(store)
        store.close()
        return n

    while time.time() < deadline and n_cached() < 3 and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    reqs = [ChatRequest([{"role": "user", "content": f"resume: say the number {i}"}]) for i in range(8)]
    backend = OpenAIChat(model, base_url=proxy.url, api_key="sk-local", concurrency=4)
    keys = {request_key(backend, r, GEN): r.messages[0]["content"] for r in reqs}
    cached = [keys[k] for k in KVCache(cache_path).get_many(keys)]
    assert 3 <= len(cached) < 8
    first_bodies = len(proxy.forwarded)
    run = generate_chat(backend, reqs, GEN, cache=response_cache(cache_path), progress=False)
    assert run.stats.cache_hits == len(cached) and run.stats.calls == 8 - len(cached)
    resent = {b["messages"][0]["content"] for b in proxy.forwarded[first_bodies:]}
    assert resent.isdisjoint(cached) and len(resent) == 8 - len(cached)
    again = generate_chat(backend, reqs, GEN, cache=response_cache(cache_path), progress=False)
    assert again.stats.calls == 0 and again.stats.cache_hits == 8
    assert json.loads(json.dumps([r.text for r in again.results])) == [r.text for r in run.results]
