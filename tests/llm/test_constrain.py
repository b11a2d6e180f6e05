"""Decoding under the stage's JSON schema: a random model still writes valid objects; endpoints get the schema
as ``response_format`` and a server that refuses it gets JSON mode and parse-and-retry."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from lmrec.llm.chat import ChatRequest, GenParams, LocalChat, OpenAIChat, generate_chat
from lmrec.llm.constrain import string_fields_schema
from lmrec.llm.hf import tiny_random_causal_lm
from lmrec.llm.structured import generate_json
from lmrec.llmrec.augment import attribute_schema, profile_schema

from .openai_server import JSONHandler

FIELDS = ("summarization", "reasoning")


@pytest.fixture(scope="module")
def tiny_chat():
    lm, tok = tiny_random_causal_lm(hidden=32, layers=2, seed=3)
    return LocalChat("tiny-random", model_obj=lm, tokenizer=tok, batch_size=4)


def _prompts(n: int) -> list[ChatRequest]:
    movies = ["Toy Story (1995)", "Heat (1995)", "Casino (1995)", "Fargo (1996)", "Babe (1995)", "Se7en (1995)"]
    return [ChatRequest([{"role": "system", "content": "Answer with a JSON object."},
                         {"role": "user", "content": f"Who would enjoy {movies[i % len(movies)]}? ({i})"}],
                        prefill='{"summarization": "', id=str(i)) for i in range(n)]


def test_random_model_under_the_schema_writes_valid_json_for_every_prompt(tiny_chat):
    schema = string_fields_schema(FIELDS, [40, 20])
    gen = GenParams(max_new_tokens=96, json_schema=schema)
    run = generate_chat(tiny_chat, _prompts(10), gen, progress=False)
    for res in run.results:
        assert res.error is None and res.finish_reason == "stop", res
        obj = json.loads(res.text)
        assert list(obj) == list(FIELDS)
        assert all(1 <= len(obj[f]) <= cap for f, cap in zip(FIELDS, (40, 20)))
    # the same model without the schema writes no JSON at all (what the constraint is for)
    free = generate_chat(tiny_chat, _prompts(4), GenParams(max_new_tokens=24), progress=False)
    assert not any(r.text.startswith('{"summarization"') for r in free.results)


def test_generate_json_under_the_schema_drops_prefill_and_repairs(tiny_chat):
    gen = GenParams(max_new_tokens=96, json_schema=string_fields_schema(FIELDS, [40, 20]))
    res = generate_json(tiny_chat, _prompts(6), FIELDS, gen, max_repairs=2, progress=False)
    assert res.failures == [] and res.repaired == 0
    assert res.stats.calls == 6  # one call per prompt: no continuation, no repair turn


def test_llmrec_profile_and_attribute_schemas_hold(tiny_chat):
    for schema, n_tokens in ((profile_schema(20), 128), (attribute_schema(20), 64)):
        run = generate_chat(tiny_chat, _prompts(4), GenParams(max_new_tokens=n_tokens, json_schema=schema),
                            progress=False)
        for res in run.results:
            obj = json.loads(res.text)
            assert list(obj) == list(schema["required"])
            if "age" in obj:
                assert obj["age"].isdigit() and 1 <= int(obj["age"]) <= 99


class FakeEndpoint:
    """An OpenAI-compatible chat endpoint that records request bodies; with ``refuse_schema`` it answers a
    ``json_schema`` response_format with HTTP 400 (as servers without structured output do)."""

    def __init__(self, refuse_schema: bool):
        self.bodies: list[dict] = []
        fake = self

        class Handler(JSONHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.bodies.append(body)
                fmt = (body.get("response_format") or {}).get("type")
                if refuse_schema and fmt == "json_schema":
                    msg = {"error": {"message": "response_format json_schema is not supported", "type": "invalid"}}
                    return self._send(400, json.dumps(msg).encode())
                text = '{"summarization": "fans of crime", "reasoning": "dark plot"}' if fmt else "sure! here"
                self._send(200, json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.mark.parametrize("refuse", [False, True])
def test_endpoint_gets_the_schema_or_falls_back_with_a_notice(refuse, capsys):
    fake = FakeEndpoint(refuse_schema=refuse)
    try:
        backend = OpenAIChat("m", base_url=fake.url, api_key="k", concurrency=1, max_retries=0)
        schema = string_fields_schema(FIELDS, 80)
        res = generate_json(backend, _prompts(3), FIELDS, GenParams(max_new_tokens=40, json_schema=schema),
                            max_repairs=1, progress=False)
    finally:
        fake.server.shutdown()
    first = fake.bodies[0]["response_format"]
    assert first["type"] == "json_schema" and first["json_schema"]["schema"] == schema
    assert res.failures == [] and all(v["summarization"] == "fans of crime" for v in res.values)
    notice = capsys.readouterr().out
    if refuse:
        assert backend.constrains(GenParams(json_schema=schema)) is False
        assert [b["response_format"]["type"] for b in fake.bodies[1:]] == ["json_object"] * 3
        assert notice.count("refused response_format=json_schema") == 1
    else:
        assert len(fake.bodies) == 3 and "notice" not in notice


@pytest.mark.parametrize("fields,budget", [(FIELDS, 48), (FIELDS, 200), (("director", "country", "language"), 40),
                                           (("age", "gender", "liked_genres", "disliked_genres", "liked_directors",
                                             "country", "language"), 96)])
def test_caps_fitted_to_the_budget_leave_room_for_the_whole_object(fields, budget):
    from lmrec.llm.constrain import fit_caps
    from lmrec.llm.hf import load_tokenizer

    tok = load_tokenizer()
    caps = fit_caps(fields, [400] * len(fields), budget)
    prose = ("Viewers who enjoy tense crime dramas, sharp dialogue and morally complex characters would like this "
             "film, as would fans of heist stories and classic Los Angeles noir with strong ensemble performances. ") * 4
    obj = json.dumps({f: prose[:cap].strip() or "x" for f, cap in zip(fields, caps)})
    assert len(tok(obj, add_special_tokens=False)["input_ids"]) + 1 <= budget  # + the end token
    assert fit_caps(fields, [3] * len(fields), 10_000) == [3] * len(fields)  # caps that fit are kept
