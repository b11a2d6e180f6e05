"""Documents: collaborative shuffling, masked recommendation prompts and targets, content documents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.cllm4rec import UserItemTokenizer, movielens_content_documents
from lmrec.cllm4rec.documents import collaborative_batch, eval_rec_batch, masked_rec_batch


@pytest.fixture()
def tok(base_tokenizer):
    return UserItemTokenizer(base_tokenizer, n_users=6, n_items=9)


def test_collaborative_batch_shuffles_and_caps_items(tok):
    rng = np.random.default_rng(0)
    items = [np.arange(8), np.array([3])]
    orders = set()
    for _ in range(5):
        b = collaborative_batch(tok, [0, 5], items, max_items=6, rng=rng)
        assert b["prompt_ids"][:, 0].tolist() == [tok.user_token_id(0), tok.user_token_id(5)]
        assert b["main_mask"].sum(1).tolist() == [6, 1] and b["main_ids"][1, 0] == 3
        row = b["main_ids"][0].tolist()
        assert len(set(row)) == 6 and set(row) <= set(range(8))
        orders.add(tuple(row))
    assert len(orders) > 1  # a fresh random order every epoch


def test_masked_rec_batch_holds_out_a_share_and_keeps_the_suffix(tok):
    rng = np.random.default_rng(1)
    items = [np.arange(9), np.array([2, 4])]
    b = masked_rec_batch(tok, [1, 2], items, n_items=9, max_items=4, mask_ratio=0.2, rng=rng, targets="masked")
    ids, mask, targets = b["ids"], b["attention_mask"], b["targets"]
    assert targets.sum(1).tolist() == [1.0, 1.0]  # max(1, int(0.2 * n)) items held out
    suffix = tok.encode(", user_1 will interact with")
    n0 = int(mask[0].sum())
    assert ids[0, n0 - len(suffix):n0].tolist() == suffix
    listed = [i - tok.item_offset for i in ids[0, :n0].tolist() if i >= tok.item_offset]
    held = targets[0].nonzero().ravel().tolist()
    assert len(listed) == 4 and not set(listed) & set(held)  # held-out items never appear in the prompt
    b_all = masked_rec_batch(tok, [1], items[:1], 9, 4, 0.2, np.random.default_rng(1), targets="all")
    assert b_all["targets"].sum() == 9  # the original code's targets: every training item
    with pytest.raises(ValueError, match="REC_TARGETS"):
        masked_rec_batch(tok, [1], items[:1], 9, 4, 0.2, rng, targets="some")


def test_eval_prompt_is_deterministic_last_items_in_order(tok):
    hist = [np.array([5, 1, 7, 2])] * 6
    ids, mask = eval_rec_batch(tok, [3], hist, max_items=2)
    assert tok.decode(ids[0][mask[0].bool()]) == "user_3 has interacted with item_7 item_2, user_3 will interact with"
    again, _ = eval_rec_batch(tok, [3], hist, max_items=2)
    assert again.equal(ids)


def test_max_items_zero_uses_the_whole_history_in_every_document(tok):
    items = [np.arange(9), np.array([2, 4])]
    b = collaborative_batch(tok, [0, 1], items, max_items=0, rng=np.random.default_rng(0))
    assert b["main_mask"].sum(1).tolist() == [9, 2] and set(b["main_ids"][0].tolist()) == set(range(9))
    r = masked_rec_batch(tok, [1], items[:1], 9, 0, 0.2, np.random.default_rng(0))
    listed = [i - tok.item_offset for i in r["ids"][0].tolist() if i >= tok.item_offset]
    assert len(listed) == 8 and int(r["targets"].sum()) == 1  # every item but the held-out one
    ids, mask = eval_rec_batch(tok, [3], [np.array([5, 1, 7, 2])] * 6, max_items=0)
    assert tok.decode(ids[0][mask[0].bool()]).startswith("user_3 has interacted with item_5 item_1 item_7 item_2,")


def test_movielens_content_documents():
    items = pd.DataFrame({"title": ["Toy Story"], "year": ["1995"], "genres": ["Animation Children's Comedy"]})
    users = pd.DataFrame({"age": ["24"], "gender": ["F"], "occupation": ["writer"]})
    docs = movielens_content_documents(items, users)
    assert docs == [("item_0 is described as:", "Toy Story (1995). Genres: Animation, Children's, Comedy."),
                    ("user_0 is described as:", "a 24-year-old woman working as writer.")]
    assert movielens_content_documents(items, None, item_profiles={0: "A toy comes alive."}) == [
        ("item_0 is described as:", "A toy comes alive.")]
