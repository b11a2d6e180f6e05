"""Failed LLM stages fail: errors name the endpoint, cut-off 200 replies are retried, a stage above its failure
threshold raises (so its run ends failed, moves no pointer) and a re-run makes only the failed calls again."""

from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer

import pytest

from lmrec.llm.cache import KVCache
from lmrec.llm.chat import ChatRequest, GenParams, OpenAIChat, generate_chat
from lmrec.llm.structured import LLMStageFailed, check_failure_rate, generate_json

from ..llm.openai_server import JSONHandler


def completion(text: str) -> bytes:
    return json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()


class FakeServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1. ``truncate_first``: the first N replies are HTTP 200 with
    the body cut in half; ``down``: prompts (user text) answered 503 for now. Counts calls per prompt."""

    def __init__(self):
        self.truncate_first, self.down, self.calls, self.lock = 0, set(), [], threading.Lock()
        fake = self

        class Handler(JSONHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with fake.lock:
                    fake.calls.append(prompt)
                    n = len(fake.calls)
                if prompt in fake.down:
                    return self._send(503, b'{"error": {"message": "overloaded"}}')
                data = completion(json.dumps({"summarization": f"about {prompt}", "reasoning": "r"}))
                self._send(200, data[: len(data) // 2] if n <= fake.truncate_first else data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.server.shutdown()


def dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def backend(url: str, retries: int = 2) -> OpenAIChat:
    chat = OpenAIChat("m", base_url=url, api_key="k", concurrency=2, max_retries=retries, timeout=5)
    chat.backoff_s = chat.max_backoff_s = 0.01
    return chat


def requests(n: int) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"item {i}"}], id=str(i)) for i in range(n)]


def test_a_dead_endpoint_fails_every_call_with_an_error_naming_its_url():
    url = dead_url()
    run = generate_chat(backend(url, retries=1), requests(3), GenParams(max_new_tokens=8), progress=False)
    assert run.stats.failures == 3 and run.stats.calls == 3
    assert all(r.error.startswith(f"APIConnectionError from {url}/ after 2 tries") for r in run.results)


def test_a_cut_off_200_reply_is_retried_like_a_server_error(fake):
    fake.truncate_first = 2
    chat = backend(fake.url, retries=3)
    run = generate_chat(chat, requests(1), GenParams(max_new_tokens=8), progress=False)
    assert run.results[0].error is None and run.results[0].text.startswith('{"summarization": "about item 0"')
    assert len(fake.calls) == 3 and run.stats.retries == 2
    fake.truncate_first, fake.calls = 10, []
    run = generate_chat(backend(fake.url, retries=1), requests(1), GenParams(max_new_tokens=8), progress=False)
    assert run.results[0].error.startswith(f"JSONDecodeError from {fake.url}/ after 2 tries: Unterminated string")


def test_above_the_threshold_the_stage_raises_naming_the_endpoint_and_a_rerun_repeats_only_failed_calls(fake, tmp_path):
    cache = KVCache(tmp_path / "responses.sqlite")
    fake.down = {"item 1", "item 3", "item 4"}
    reqs = requests(5)
    first = generate_json(backend(fake.url, retries=0), reqs, ["summarization", "reasoning"],
                          GenParams(max_new_tokens=32), cache=cache, max_repairs=0, progress=False)
    assert sorted(f["id"] for f in first.failures) == ["1", "3", "4"]
    with pytest.raises(LLMStageFailed, match=rf"01 profiles: 3 of 5 requests failed \(60%\), more than "
                                             rf"MAX_FAILURE_RATE=0.5; 3 of them were failed calls; first: call "
                                             rf"failed: InternalServerError from {fake.url}/"):
        check_failure_rate("01 profiles", first.failures, 5, 0.5)
    assert check_failure_rate("01 profiles", first.failures, 5, 0.6) == pytest.approx(0.6)  # at the threshold: passes
    fake.down, fake.calls = set(), []
    second = generate_json(backend(fake.url, retries=0), reqs, ["summarization", "reasoning"],
                           GenParams(max_new_tokens=32), cache=cache, max_repairs=0, progress=False)
    assert sorted(fake.calls) == ["item 1", "item 3", "item 4"] and not second.failures
    assert [v["summarization"] for v in second.values] == [f"about item {i}" for i in range(5)]


@pytest.mark.slow
def test_profiles_run_against_a_dead_endpoint_ends_failed_with_a_nonzero_exit_and_moves_no_pointer(tmp_path, monkeypatch, capsys):
    from lmrec.__main__ import main
    from lmrec.paths import cache_dir, runs_dir

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    url = dead_url()
    rc = main(["run", "01_profiles", "--params", "params/smoke", "--set", "BACKEND=openai", "--set", f"BASE_URL={url}",
               "--set", "MAX_FAILURE_RATE=0.5", "--set", "MAX_REPAIRS=0"])
    out = capsys.readouterr()
    assert rc == 1 and "0 done, 0 skipped, 1 failed" in out.out
    assert "LLMStageFailed" in out.out and f"APIConnectionError from {url}/" in out.out, out.out
    log = next(runs_dir().glob("01_profiles/*/executed.ipynb")).read_text()
    assert "4 of 4 requests failed (100%), more than MAX_FAILURE_RATE=0.5" in log
    assert not list(cache_dir("rlmrec").glob("CURRENT-profiles-*")) and not list(runs_dir().glob("01_profiles/*/metrics.json"))
