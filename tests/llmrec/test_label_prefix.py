"""Label scoring with shared prefixes: a user's rotations share everything up to the candidate list, which
:class:`LabelScoreChat` runs once per batch. The scores must be those of scoring every prompt whole."""

import numpy as np
import pytest

from lmrec.llm import tiny_random_causal_lm
from lmrec.llm.chat import ChatRequest, GenParams, LocalChat
from lmrec.llmrec.choice import LabelScoreChat, candidate_orders, prefix_groups

K = 6
LABELS = [str(j) for j in range(K)]


@pytest.fixture(scope="module")
def chat():
    lm, tok = tiny_random_causal_lm(hidden=32, layers=2, heads=4, seed=5)
    return LocalChat("tiny", model_obj=lm, tokenizer=tok, batch_size=7)


def pair_requests(n_users: int = 5, n_orders: int = 3, extra: bool = True) -> list[ChatRequest]:
    """Rotations of each user's candidates after a user-specific history of varying length (as
    ``implicit_feedback_prompt`` builds them), plus prompts that share only the chat template, a duplicate,
    and prompts whose common part ends inside the candidate list."""
    rng = np.random.default_rng(0)
    out = []
    for u in range(n_users):
        hist = "\n".join(f"- movie {rng.integers(1000)} ({1950 + u})" for _ in range(1 + 4 * u))
        cands = rng.choice(500, K, replace=False)
        for order in candidate_orders(cands, n_orders):
            text = "Rank the candidates.\nHistory:\n" + hist + "\nCandidates:\n" + "\n".join(
                f"{p}. film {c}" + " long title" * int(c % 3) for p, c in enumerate(order))
            out.append(ChatRequest(messages=[{"role": "user", "content": text}], prefill="Answer: "))
    if extra:
        out += [ChatRequest(messages=[{"role": "user", "content": t}]) for t in ("hi", "an unrelated question?")]
        out.append(out[0])  # a duplicate: shares all its tokens but the last
        tail = out[1].messages[0]["content"]
        out.append(ChatRequest(messages=[{"role": "user", "content": tail + "\nand one more line"}]))
    return out


def scores(backend: LabelScoreChat, requests) -> np.ndarray:
    got: dict[int, np.ndarray] = {}
    for i, _, s in backend.iter_scores(requests):
        assert not isinstance(s, Exception), s
        assert i not in got
        got[i] = s.numpy()
    assert sorted(got) == list(range(len(requests)))
    return np.stack([got[i] for i in range(len(requests))])


def count_tokens(lm):
    """A forward pre-hook that adds up the input tokens (padding excluded) the model runs."""
    seen = []

    def hook(mod, args, kw):
        seen.append(int(kw["attention_mask"][:, -kw["input_ids"].shape[1]:].sum()))

    handle = lm.register_forward_pre_hook(hook, with_kwargs=True)
    return seen, handle


@pytest.mark.parametrize("batch_size", [7, 3, 32])
def test_shared_prefix_scores_equal_whole_prompt_scores(chat, batch_size):
    reqs = pair_requests()
    chat.batch_size = batch_size
    try:
        plain = scores(LabelScoreChat(chat, LABELS, share_prefix=False), reqs)
        seen, handle = count_tokens(chat.lm)
        try:
            shared = scores(LabelScoreChat(chat, LABELS), reqs)
        finally:
            handle.remove()
    finally:
        chat.batch_size = 7
    np.testing.assert_allclose(shared, plain, atol=1e-5, rtol=0)
    assert np.ptp(plain, axis=1).min() > 1e-3  # the labels' scores differ: a wrong context would show
    # and the shared path did share: far fewer tokens run than the prompts hold
    ids = chat.tokenizer([chat.prompt_text(r) for r in reqs], add_special_tokens=False)["input_ids"]
    assert sum(seen) < 0.75 * sum(len(x) for x in ids)


def test_scores_stay_with_their_request_whatever_the_order(chat):
    reqs = pair_requests()
    backend = LabelScoreChat(chat, LABELS)
    ref = scores(backend, reqs)
    perm = np.random.default_rng(1).permutation(len(reqs))
    np.testing.assert_allclose(scores(backend, [reqs[i] for i in perm]), ref[perm], atol=1e-5, rtol=0)
    got: dict[int, str] = {}
    backend.generate(reqs, GenParams(), lambda i, r: got.__setitem__(i, r))
    assert sorted(got) == list(range(len(reqs)))
    whole: dict[int, str] = {}
    LabelScoreChat(chat, LABELS, share_prefix=False).generate(reqs, GenParams(), lambda i, r: whole.__setitem__(i, r))
    assert [got[i].text for i in range(len(reqs))] == [whole[i].text for i in range(len(reqs))]
    assert [got[i].prompt_tokens for i in range(len(reqs))] == [whole[i].prompt_tokens for i in range(len(reqs))]


def test_a_failing_batch_fails_only_its_requests(chat, monkeypatch):
    reqs = pair_requests(extra=True)
    backend = LabelScoreChat(chat, LABELS)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(backend, "_shared_logits", broken)
    got: dict[int, object] = {}
    backend.generate(reqs, GenParams(), lambda i, r: got.__setitem__(i, r))
    assert sorted(got) == list(range(len(reqs)))
    failed = {i for i, r in got.items() if r.error is not None}
    assert failed and len(failed) < len(reqs)  # the unrelated prompts are scored whole, and succeed
    assert all(got[i].error == "RuntimeError: out of memory" for i in failed)
    assert all(got[i].text and got[i].finish_reason == "label_scores" for i in set(got) - failed)


def test_prefix_groups_partition_by_user():
    hist = {u: list(range(100 * u, 100 * u + 20 + 5 * u)) for u in range(4)}
    template = [7] * 10  # shared by every prompt, shorter than min_prefix
    ids, owner = [], []
    for u in range(4):
        for r in range(5):
            ids.append(template + hist[u] + [900 + (r + p) % 5 for p in range(5)] + [1, 2])
            owner.append(u)
    ids += [[3, 4, 5], [3, 4, 5], template + [8]]
    groups = prefix_groups(ids, max_size=8, min_prefix=16)
    assert sorted(i for m, _ in groups for i in m) == list(range(len(ids)))
    multi = [(m, n) for m, n in groups if len(m) > 1]
    assert sorted(sorted(owner[i] for i in m) for m, _ in multi) == [[u] * 5 for u in range(4)]
    for m, n in multi:
        assert n == len(template) + len(hist[owner[m[0]]])  # the whole history, not just the template
        assert all(ids[i][:n] == ids[m[0]][:n] and len(ids[i]) > n for i in m)
    assert all(n == 0 for m, n in groups if len(m) == 1)
    # runs never exceed max_size; identical prompts share all but their last token
    assert max(len(m) for m, _ in prefix_groups(ids, max_size=3, min_prefix=16)) <= 3
    dup = prefix_groups([[1] * 20, [1] * 20], max_size=4, min_prefix=4)
    assert dup == [([0, 1], 19)]
    assert prefix_groups([], max_size=4) == []


def test_rows_attend_to_their_own_prefix(chat):
    """Two users whose rest is identical: only the cached prefix (history) tells their rows apart."""
    def req(hist):
        text = f"History: {hist}\nCandidates: " + " ".join(f"{p}. film {p}" for p in range(K))
        return ChatRequest(messages=[{"role": "user", "content": text}])
    reqs = [req("alpha beta gamma delta"), req("zeta eta theta iota kappa lambda mu nu xi")]
    reqs = [reqs[0], reqs[1], reqs[0], reqs[1]]
    plain = scores(LabelScoreChat(chat, LABELS, share_prefix=False), reqs)
    np.testing.assert_allclose(scores(LabelScoreChat(chat, LABELS, min_prefix=4), reqs), plain, atol=1e-5, rtol=0)
    assert np.abs(plain[0] - plain[1]).max() > 1e-3
