"""Augmentation stages over a scripted chat backend: retries, failure records, prefill, cache, candidates."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from lmrec.data import InteractionDataset, make_interactions
from lmrec.llm.cache import KVCache
from lmrec.llm.chat import ChatResult, GenParams
from lmrec.llmrec.augment import (
    augment_attributes,
    augment_pairs,
    augment_profiles,
    base_candidates,
    generate_structured,
    pair_quality,
)
from lmrec.llmrec.parsing import parse_pair
from lmrec.llmrec.prompts import AugmentPrompt


class ScriptedChat:
    """A chat backend whose answer is ``reply(request, gen)``; counts calls."""

    kind = "local"
    supports_prefill = True
    model = "scripted"

    def __init__(self, reply):
        self.reply, self.calls = reply, 0

    def cache_identity(self):
        return {"backend": "scripted"}

    def generate(self, requests, gen, on_result):
        for i, r in enumerate(requests):
            self.calls += 1
            on_result(i, ChatResult(text=self.reply(r, gen), prompt_tokens=10, completion_tokens=3))


def toy_dataset():
    items = pd.DataFrame({"title": [f"Movie {i}" for i in range(6)], "year": ["1990"] * 6,
                          "genres": ["Drama"] * 6})
    u = np.array([0, 0, 0, 1, 1, 1])
    i = np.array([0, 1, 4, 2, 3, 5])
    s = np.array(["train", "train", "test", "train", "train", "test"], dtype=object)
    inter = make_interactions(u, i, s, timestamp=np.arange(6.0))
    return InteractionDataset("toy", inter, 2, 6, np.array(["a", "b"]), np.arange(6).astype(str), item_text=items)


def test_retry_with_sampling_recovers_and_unparsed_prompts_become_failure_records():
    prompts = [AugmentPrompt("p0", labels=("1", "2")), AugmentPrompt("p1", labels=("1", "2"))]

    def reply(req, gen):
        if req.messages[0]["content"] == "p0":
            return "nonsense" if gen.temperature == 0 else "2::1"
        return "1::1"

    backend = ScriptedChat(reply)
    run = generate_structured(backend, prompts, lambda t, p: parse_pair(t, p.labels), GenParams(max_new_tokens=4),
                         retries=2)
    assert run.values == [(1, 0), None]
    assert run.tries_used == [2, 3]
    assert [f["index"] for f in run.failures] == [1] and "must differ" in run.failures[0]["error"]
    assert run.failure_rate == 0.5 and backend.calls == 5 and run.stats.calls == 5


def test_each_retry_samples_with_its_own_seed_so_a_cached_retry_is_not_the_same_call(tmp_path):
    """Retries sample (``retry_temperature``) with the try number as seed: each try is a distinct call, so
    a response cache never answers try 3 with try 2's cached answer."""
    seen = []

    def reply(req, gen):
        seen.append((gen.temperature, gen.seed))
        return "1::2" if gen.seed == 2 and gen.temperature > 0 else "nonsense"

    backend = ScriptedChat(reply)
    cache = KVCache(tmp_path / "cache.sqlite")
    run = generate_structured(backend, [AugmentPrompt("p0", labels=("1", "2"))], lambda t, p: parse_pair(t, p.labels),
                         GenParams(max_new_tokens=4, seed=0), retries=2, retry_temperature=0.7, cache=cache)
    assert seen == [(0.0, 0), (0.7, 1), (0.7, 2)]
    assert run.values == [(0, 1)] and run.tries_used == [3]


def test_prefill_is_prepended_for_local_backends_only():
    prompts = [AugmentPrompt("q", prefill='{"director": "')]
    seen = []
    run = generate_structured(ScriptedChat(lambda r, g: 'X", "country": "US", "language": "en"}'), prompts,
                         lambda t, p: seen.append(t) or t, GenParams())
    assert run.values[0] == '{"director": "X", "country": "US", "language": "en"}'

    class Remote(ScriptedChat):
        kind = "openai"
        supports_prefill = False

    run = generate_structured(Remote(lambda r, g: "ok"), prompts, lambda t, p: t, GenParams())
    assert run.values[0] == "ok"


def test_cache_makes_a_rerun_call_nothing(tmp_path):
    cache = KVCache(tmp_path / "c.sqlite")
    backend = ScriptedChat(lambda r, g: "1::2")
    prompts = [AugmentPrompt(f"p{i}", labels=("1", "2")) for i in range(3)]
    parse = lambda t, p: parse_pair(t, p.labels)  # noqa: E731
    generate_structured(backend, prompts, parse, GenParams(), cache=cache)
    again = generate_structured(backend, prompts, parse, GenParams(), cache=cache)
    assert backend.calls == 3 and again.stats.cache_hits == 3 and again.values == [(0, 1)] * 3


def test_base_candidates_exclude_training_items():
    train = sp.csr_matrix(np.array([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    out = base_candidates(lambda u: scores[u], train, 2)
    assert out.tolist() == [[1, 2], [4, 3]]


def test_pair_stage_maps_labels_to_item_ids_and_reports_quality():
    ds = toy_dataset()
    cands = np.array([[4, 3, 5], [4, 5, 0]])
    backend = ScriptedChat(lambda r, g: "0::2")  # liked = first shown candidate, disliked = third
    out = augment_pairs(backend, ds, cands, np.array([0, 1]), GenParams(), max_history=5)
    pos, neg = out.pos, out.neg
    # shown in canonical order (sorted ids): [3, 4, 5] and [0, 4, 5]
    assert pos.tolist() == [3, 0] and neg.tolist() == [5, 5]
    assert "Movie 4" not in out.prompts[0].text.split("Candidates:")[0]  # test item never in the history
    q = pair_quality(pos, neg, cands, np.array([0, 1]), ds.test)
    # user 0 (test item 4): neither picked item is it; user 1 (test item 5): the disliked one is
    assert q["pos_is_heldout"] == 0.0 and q["neg_is_heldout"] == 0.5
    assert abs(q["candidate_heldout_rate"] - (1 / 3 + 1 / 3) / 2) < 1e-9


def test_pair_prompts_show_each_augmented_users_own_history():
    """Augmenting a subset of users (here user 1 only): candidates are indexed by position in ``users`` but the
    history shown is that of the user id itself."""
    ds = toy_dataset()  # user 0 trains on items 0, 1; user 1 on items 2, 3
    out = augment_pairs(ScriptedChat(lambda r, g: "0::2"), ds, np.array([[4, 5, 0]]), np.array([1]), GenParams(),
                        max_history=5)
    history = out.prompts[0].text.split("Candidates:")[0]
    assert "Movie 2" in history and "Movie 3" in history
    assert "Movie 0" not in history and "Movie 1" not in history


def test_profile_and_attribute_stages_parse_json():
    ds = toy_dataset()
    profile = ('30", "gender": "F", "liked_genres": "Drama", "disliked_genres": "Horror", '
               '"liked_directors": "Ang Lee", "country": "US", "language": "English"}')
    run = augment_profiles(ScriptedChat(lambda r, g: profile), ds, np.array([0, 1]), GenParams())
    assert run.failure_rate == 0 and run.values[1]["liked_directors"] == "Ang Lee"
    run = augment_attributes(ScriptedChat(lambda r, g: 'Ang Lee", "country": "US"}'), ds, np.arange(3),
                             GenParams(), retries=0)
    assert run.failure_rate == 1.0 and "language" in run.failures[0]["error"]


def test_failed_profile_is_continued_from_its_usable_fields():
    ds = toy_dataset()
    prefills = []

    def reply(request, gen):
        prefills.append(request.prefill)
        if request.prefill == '{"age": "':  # first try: runs out of tokens inside the fourth field
            return '30", "gender": "F", "liked_genres": "Drama", "disliked_genres": "Hor'
        return 'Horror", "liked_directors": "Ang Lee", "country": "US", "language": "English"}'

    run = augment_profiles(ScriptedChat(reply), ds, np.array([0]), GenParams(), retries=1)
    assert prefills[1] == '{"age": "30", "gender": "F", "liked_genres": "Drama", "disliked_genres": "'
    assert run.failure_rate == 0 and run.tries_used == [2]
    assert run.values[0] == {"age": "30", "gender": "F", "liked_genres": "Drama", "disliked_genres": "Horror",
                             "liked_directors": "Ang Lee", "country": "US", "language": "English"}


@pytest.mark.parametrize("answer, expected", [
    ('{"age": "16", "gender": "M", "liked_genres": ["Comedy", "Dr', '{"age": "16", "gender": "M", "liked_genres": "'),
    ('{"age": "16", "gender": ""}', '{"age": "16", "gender": "'),   # empty value: asked again
    ('{"age": 16, "gender": "M"', '{"age": "'),                      # no usable leading field: start over
    ('Sure! {"age": "16"}', '{"age": "'),
])
def test_continuation_keeps_leading_string_fields_only(answer, expected):
    from lmrec.llmrec.augment import _continuation
    from lmrec.llmrec.parsing import PROFILE_FIELDS

    assert _continuation(answer, PROFILE_FIELDS, '{"age": "') == expected


@pytest.mark.slow
def test_label_score_backend_answers_the_label_log_softmax():
    from lmrec.llm import tiny_random_causal_lm
    from lmrec.llm.chat import ChatRequest, LocalChat
    from lmrec.llmrec.choice import LabelScoreChat, parse_scores

    lm, tok = tiny_random_causal_lm(hidden=16, layers=1, heads=2)
    chat = LocalChat("tiny", model_obj=lm, tokenizer=tok, batch_size=2)
    labels = [str(i) for i in range(10)]
    backend = LabelScoreChat(chat, labels)
    reqs = [ChatRequest(messages=[{"role": "user", "content": t}]) for t in ("short", "a much longer prompt here")]
    got = {}
    backend.generate(reqs, GenParams(), lambda i, r: got.__setitem__(i, r.text))
    label_ids = [tok(lb, add_special_tokens=False)["input_ids"][0] for lb in labels]
    for i, r in enumerate(reqs):  # an unpadded single forward gives the same scores
        ids = tok(chat.prompt_text(r), add_special_tokens=False, return_tensors="pt")["input_ids"]
        expected = torch.log_softmax(lm(input_ids=ids).logits[0, -1, label_ids].float(), -1)
        np.testing.assert_allclose(parse_scores(got[i], 10), expected.detach().numpy(), atol=2e-4)
