"""The local backend's decoding loop (lmrec.llm.decode.generate_shrinking) against Hugging Face ``generate``: the same
tokens, greedy and sampled, with finished rows dropped from the batch and the JSON matchers following the rows."""

from __future__ import annotations

import json

import pytest
import torch

from lmrec.llm.chat import ChatRequest, GenParams, LocalChat, generate_chat, request_key
from lmrec.llm.constrain import string_fields_schema
from lmrec.llm.decode import Sampling, generate_shrinking
from lmrec.llm.hf import tiny_random_causal_lm

FIELDS = ("summarization", "reasoning")
CAPS = (60, 30)
SCHEMA = string_fields_schema(FIELDS, list(CAPS))  # the random model writes 29 to 38 tokens: rows end apart
TITLES = ["Toy Story (1995)", "Heat", "Casino (1995), a long title with many more words in it", "Fargo (1996)",
          "Babe", "Se7en (1995)", "x", "The Lord of the Rings: The Fellowship of the Ring (2001)"]


@pytest.fixture(scope="module")
def chat():
    lm, tok = tiny_random_causal_lm(hidden=32, layers=2, seed=3)
    return LocalChat("tiny-random", model_obj=lm, tokenizer=tok, batch_size=8)


def _requests(n: int = 8) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"Who would enjoy {TITLES[i % len(TITLES)]}? ({i})"}], id=str(i))
            for i in range(n)]


def _ids(chat: LocalChat, reqs: list[ChatRequest]) -> list[list[int]]:
    """Prompt ids of different lengths (the batch is left-padded)."""
    return chat.tokenizer([chat.prompt_text(r) for r in reqs], add_special_tokens=False)["input_ids"]


def _cut(rows: list[list[int]], stops: set[int]) -> list[list[int]]:
    return [t[:next((j for j, x in enumerate(t) if x in stops), len(t)) + 1] for t in rows]


def _both(chat: LocalChat, ids: list[list[int]], gen: GenParams, seed: int = 0) -> tuple[list, list]:
    """(generate's tokens, the loop's tokens) per row, each cut after its first stop token."""
    chat._hf_generate = True
    try:
        ref = chat._generate_torch(ids, gen, seed)
    finally:
        chat._hf_generate = False
    new = chat._generate_torch(ids, gen, seed)
    stops = chat._stop_ids()
    return _cut(ref, stops), _cut(new, stops)


def _assert_same(ref: list[list[int]], new: list[list[int]]) -> None:
    """Every row equal to generate's; a float-rounding flip (the batch shrinks) is tolerated in one row, late."""
    differ = [r for r, (a, b) in enumerate(zip(ref, new)) if a != b]
    assert len(differ) <= 1, f"rows {differ} differ from generate: {[(ref[r], new[r]) for r in differ]}"
    for r in differ:
        assert ref[r][:8] == new[r][:8], f"row {r} differs from generate within 8 tokens"


def _row_counts(model: torch.nn.Module) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    """Rows of every forward call of ``model`` (a hook appends them to the returned list)."""
    sizes: list[int] = []
    handle = model.register_forward_hook(lambda m, args, kwargs, out: sizes.append(kwargs["input_ids"].shape[0]),
                                         with_kwargs=True)
    return sizes, handle


def test_greedy_tokens_equal_generate_without_schema(chat):
    ref, new = _both(chat, _ids(chat, _requests()), GenParams(max_new_tokens=24))
    assert all(len(t) == 24 for t in ref)  # a random model writes no stop token: every row runs to the budget
    _assert_same(ref, new)


def test_greedy_tokens_equal_generate_under_the_schema_while_rows_leave(chat):
    ids = _ids(chat, _requests())
    ref, new = _both(chat, ids, GenParams(max_new_tokens=64, json_schema=SCHEMA))
    assert len({len(t) for t in ref}) > 1, "rows should end at different steps for this test to test dropping"
    _assert_same(ref, new)


def test_finished_rows_leave_the_batch(chat):
    ids = _ids(chat, _requests())
    gen = GenParams(max_new_tokens=64, json_schema=SCHEMA)
    sizes, handle = _row_counts(chat.lm)
    try:
        new = _cut(chat._generate_torch(ids, gen, 0), chat._stop_ids())
    finally:
        handle.remove()
    assert sizes[0] == len(ids) and sizes == sorted(sizes, reverse=True) and sizes[-1] < len(ids)
    # one row-forward per token written: a finished row is never computed again
    assert sum(sizes) == sum(len(t) for t in new)
    assert len(sizes) == max(len(t) for t in new)


def test_positions_and_mask_follow_each_row_after_rows_leave(chat):
    """A tiny random model's picks barely depend on positions, so they are checked as the model receives them:
    row r's k-th new token sits at position (its prompt's real length + k - 1), and its mask covers exactly its
    real prompt plus the tokens so far (left padding stays masked)."""
    ids = _ids(chat, _requests())
    real = [len(t) for t in ids]
    assert len(set(real)) > 1  # left padding present
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    handle = chat.lm.register_forward_hook(
        lambda m, args, kwargs, out: calls.append((kwargs["position_ids"].clone(), kwargs["attention_mask"].clone())),
        with_kwargs=True)
    try:
        new = _cut(chat._generate_torch(ids, GenParams(max_new_tokens=64, json_schema=SCHEMA), 0), chat._stop_ids())
    finally:
        handle.remove()
    width = max(real)
    pos0, mask0 = calls[0]
    for r, n in enumerate(real):
        assert mask0[r].tolist() == [0] * (width - n) + [1] * n
        assert pos0[r, width - n:].tolist() == list(range(n))
    for k, (pos, mask) in enumerate(calls[1:], start=1):
        live = [r for r in range(len(ids)) if len(new[r]) > k]  # rows still writing at step k, in batch order
        assert pos[:, -1].tolist() == [real[r] + k - 1 for r in live], f"step {k}"
        assert mask.sum(1).tolist() == [real[r] + k for r in live] and mask.shape[1] == width + k


def test_the_loop_reports_its_batch_sizes_and_ends_at_the_budget(chat):
    batch = chat.tokenizer.pad({"input_ids": _ids(chat, _requests(3))}, return_tensors="pt")
    sizes: list[int] = []
    out = generate_shrinking(chat.lm, batch["input_ids"], batch["attention_mask"], 5, chat._stop_ids(),
                             on_step=sizes.append)
    assert sizes == [3] * 5 and [len(t) for t in out] == [5, 5, 5]


def test_every_row_under_the_schema_parses_after_rows_leave(chat):
    run = generate_chat(chat, _requests(12), GenParams(max_new_tokens=96, json_schema=SCHEMA), progress=False)
    for res in run.results:
        assert res.error is None and res.finish_reason == "stop", res
        obj = json.loads(res.text)
        assert list(obj) == list(FIELDS) and all(1 <= len(obj[f]) <= cap for f, cap in zip(FIELDS, CAPS))


@pytest.mark.parametrize("schema", [None, SCHEMA], ids=["free", "schema"])
def test_sampled_tokens_are_reproducible_by_seed_and_equal_generate(chat, schema):
    ids = _ids(chat, _requests())
    gen = GenParams(max_new_tokens=40, temperature=0.9, top_p=0.9, json_schema=schema)
    ref, new = _both(chat, ids, gen, seed=11)
    _assert_same(ref, new)  # the random stream is drawn for the whole batch, as generate draws it
    again = _cut(chat._generate_torch(ids, gen, 11), chat._stop_ids())
    other = _cut(chat._generate_torch(ids, gen, 12), chat._stop_ids())
    assert again == new and other != new


def test_sampling_uses_generates_warpers(chat):
    s = Sampling.like_generate(chat.lm, 0.7, 0.9)
    assert (s.temperature, s.top_p, s.top_k) == (0.7, 0.9, 50)  # transformers' default top-k when the model sets none
    assert [type(w).__name__ for w in s.warpers()] == ["TemperatureLogitsWarper", "TopKLogitsWarper",
                                                       "TopPLogitsWarper"]


def test_cache_keys_are_unchanged(chat):
    assert chat.cache_identity() == {"backend": "local", "model": "tiny-random", "dtype": "torch.float32"}
    req = ChatRequest([{"role": "user", "content": "Who would enjoy Heat (1995)?"}])
    gen = GenParams(max_new_tokens=200, json_schema=string_fields_schema(FIELDS, [420, 210], 16))
    assert request_key(chat, req, gen) == "3b4c0c0ad20c57f1d57a70fc0697233e"  # the key before the decoding loop
