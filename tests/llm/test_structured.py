"""Tolerant JSON parsing, repair and continuation retries, explicit failure records."""

from __future__ import annotations

import pytest

from lmrec.llm.chat import ChatRequest, ChatResult, GenParams
from lmrec.llm.structured import JSONParseError, continuation_prefill, generate_json, parse_json_object

REQ = ("summarization", "reasoning")


def test_parse_plain_fenced_and_prose_wrapped_objects():
    plain = '{"summarization": "fans of noir", "reasoning": "dark crime plot"}'
    assert parse_json_object(plain, REQ) == {"summarization": "fans of noir", "reasoning": "dark crime plot"}
    fenced = f"Sure! Here it is:\n```json\n{plain}\n```\nHope this helps."
    assert parse_json_object(fenced, REQ)["reasoning"] == "dark crime plot"
    prose = f"The answer {{not json}} is {plain} -- done"
    assert parse_json_object(prose, REQ)["summarization"] == "fans of noir"


def test_a_value_that_copies_the_prompt_back_counts_as_empty():
    """A small model often copies the template's field description back; a value of at least ``echo_words`` words
    found verbatim in the prompt is not an answer. Short values, and long ones of its own, are."""
    prompt = ('Answer in JSON: {"summarization": "a short summary of what kind of users would enjoy the movie", '
              '"reasoning": "why you think so"}')
    echo = '{"summarization": "A short summary of what kind of users would enjoy", "reasoning": "fans of noir"}'
    with pytest.raises(JSONParseError):
        parse_json_object(echo, REQ, prompt=prompt)
    assert parse_json_object(echo, REQ)["summarization"].startswith("A short")  # no prompt given: no check
    own = '{"summarization": "users who enjoy slow dark crime stories", "reasoning": "the movie"}'
    assert parse_json_object(own, REQ, prompt=prompt)["reasoning"] == "the movie"  # 2 words: below echo_words
    with pytest.raises(JSONParseError):
        parse_json_object(own.replace("the movie", "why you think so"), REQ, prompt=prompt, echo_words=4)


def test_parse_with_prefill_and_truncated_tail():
    prefill = '{"summarization": "'
    out = parse_json_object('kids", "reasoning": "animated', REQ, prefill=prefill)  # cut off by max tokens
    assert out == {"summarization": "kids", "reasoning": "animated"}
    # the same text is rejected when closing truncated objects is off
    with pytest.raises(JSONParseError):
        parse_json_object('kids", "reasoning": "animated', REQ, prefill=prefill, close_truncated=False)


@pytest.mark.parametrize("text,problem", [
    ('{"summarization": "None", "reasoning": "x"}', "empty"),
    ('{"summarization": "", "reasoning": "x"}', "empty"),
    ('{"summarization": 3, "reasoning": "x"}', "not strings"),
    ('{"summarization": "x"}', "lacked"),
    ("no json here", "no JSON object"),
])
def test_parse_rejects_empty_missing_or_absent_fields(text, problem):
    with pytest.raises(JSONParseError, match=problem):
        parse_json_object(text, REQ, close_truncated=False)


def test_partial_object_gives_continuation_prefill():
    with pytest.raises(JSONParseError) as info:
        parse_json_object('horror fans"}', REQ, prefill='{"summarization": "')
    assert info.value.partial == {"summarization": "horror fans"}
    assert continuation_prefill(info.value.partial, REQ) == '{"summarization": "horror fans", "reasoning": "'
    assert continuation_prefill({}, REQ) == '{"summarization": "'


class ScriptedBackend:
    """Answers from a function of the request (a deterministic stand-in for a model), counting calls."""

    kind = "scripted"
    model = "script"
    supports_prefill = True

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def cache_identity(self):
        return {"backend": self.kind}

    def generate(self, requests, gen, on_result):
        for i, r in enumerate(requests):
            self.calls.append(r)
            on_result(i, ChatResult(text=self.answer(r), completion_tokens=3, prompt_tokens=5))


def test_generate_json_repairs_then_records_failures():
    def answer(r: ChatRequest) -> str:
        asked = r.messages[1]["content"]
        repaired = len(r.messages) > 2
        if asked == "good":
            return '{"summarization": "a", "reasoning": "b"}'
        if asked == "fixable":
            return '{"summarization": "a", "reasoning": "b"}' if repaired else "sorry, I cannot"
        return "still not json"

    reqs = [ChatRequest([{"role": "system", "content": "s"}, {"role": "user", "content": c}], id=c)
            for c in ("good", "fixable", "hopeless")]
    backend = ScriptedBackend(answer)
    res = generate_json(backend, reqs, REQ, GenParams(), cache=None, max_repairs=2, progress=False)
    assert res.values[0] == res.values[1] == {"summarization": "a", "reasoning": "b"}
    assert res.values[2] is None  # never an empty profile
    assert res.failures == [{"id": "hopeless", "raw": "still not json", "problem": "it contained no JSON object"}]
    assert res.repaired == 1
    # calls: 3 first + 2 repairs (fixable, hopeless) + 1 more repair (hopeless)
    assert len(backend.calls) == 6 and res.stats.calls == 6 and res.stats.failures == 1
    repair_turn = backend.calls[3].messages
    assert repair_turn[2] == {"role": "assistant", "content": "sorry, I cannot"}
    assert "no JSON object" in repair_turn[3]["content"]


def test_generate_json_continues_a_partial_object_from_the_prefill():
    def answer(r: ChatRequest) -> str:
        if r.prefill.endswith('"reasoning": "'):
            return 'it is scary"}'
        return 'horror fans"}'

    req = ChatRequest([{"role": "user", "content": "x"}], prefill='{"summarization": "', id="i")
    backend = ScriptedBackend(answer)
    res = generate_json(backend, [req], REQ, GenParams(), max_repairs=1, progress=False)
    assert res.values[0] == {"summarization": "horror fans", "reasoning": "it is scary"}
    assert backend.calls[1].messages == req.messages  # same prompt, extended prefill
    assert backend.calls[1].prefill == '{"summarization": "horror fans", "reasoning": "'


def test_backends_without_prefill_get_a_repair_turn_instead_of_a_continuation():
    req = ChatRequest([{"role": "user", "content": "x"}], prefill='{"summarization": "', id="i")
    backend = ScriptedBackend(lambda r: '{"summarization": "horror fans"}' if len(r.messages) == 1
                              else '{"summarization": "horror fans", "reasoning": "scary"}')
    backend.supports_prefill = False
    res = generate_json(backend, [req], REQ, GenParams(), max_repairs=1, progress=False)
    assert res.values[0] == {"summarization": "horror fans", "reasoning": "scary"}
    assert len(backend.calls[1].messages) == 3 and "reasoning" in backend.calls[1].messages[2]["content"]
