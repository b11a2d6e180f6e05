"""RLMRec profiling: prompts from training interactions only, RLMRec's file format, embedding loading."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from lmrec.data.dataset import InteractionDataset
from lmrec.llm.chat import ChatResult
from lmrec.llm.embed import EmbedConfig
from lmrec.paths import write_pointer
from lmrec.rlmrec.profiles import (
    ProfileConfig,
    current_profiles,
    dataset_key,
    embed_profiles,
    fallback_profiles,
    item_requests,
    load_profile_embeddings,
    profile_items,
    profile_users,
    profiles_folder,
    profiles_pointer,
    read_profiles,
    rlmrec_data_folder,
    training_history,
    user_requests,
    write_profiles,
)
from lmrec.rlmrec.prompts import FAMILIES, load_template


def _dataset() -> InteractionDataset:
    """3 users x 6 items; each split has its own items with unmistakable titles."""
    rows = [  # user, item, rating, timestamp, split
        (0, 0, 5, 1, "train"), (0, 1, 4, 2, "train"), (0, 4, 5, 3, "valid"), (0, 5, 5, 4, "test"),
        (1, 1, 3, 1, "train"), (1, 2, 5, 2, "train"), (1, 3, 4, 3, "train"), (1, 5, 4, 9, "test"),
        (2, 0, 4, 1, "train"), (2, 4, 5, 2, "valid"),
    ]
    inter = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp", "split"])
    inter[["rating", "timestamp"]] = inter[["rating", "timestamp"]].astype(float)
    titles = ["Train Alpha", "Train Beta", "Train Gamma", "Train Delta", "HeldOut Valid Movie", "HeldOut Test Movie"]
    text = pd.DataFrame({"title": titles, "year": ["1990"] * 6, "genres": ["Drama"] * 5 + ["Comedy"]})
    return InteractionDataset("toy", inter, 3, 6, np.array(["u0", "u1", "u2"]), np.arange(6).astype(str),
                              item_text=text, split_protocol="given")


def test_user_prompts_hold_training_items_only():
    ds = _dataset()
    items = {i: {"profile": f"people who like item {i}", "reasoning": "r"} for i in range(6)}
    reqs = user_requests(ds, [0, 1, 2], items, ProfileConfig())
    for req in reqs:
        prompt = "\n".join(m["content"] for m in req.messages)
        assert "HeldOut" not in prompt and "item 4" not in prompt and "item 5" not in prompt
    assert "Train Alpha" in reqs[0].messages[1]["content"] and "Train Beta" in reqs[0].messages[1]["content"]
    assert "people who like item 2" in reqs[1].messages[1]["content"] and '"rating": "5/5"' in reqs[1].messages[1]["content"]
    assert training_history(ds, 1) == [(1, 3.0), (2, 5.0), (3, 4.0)]
    assert training_history(ds, 1, max_items=2) == [(2, 5.0), (3, 4.0)]  # the most recent ones
    capped = user_requests(ds, [1], items, ProfileConfig(max_user_items=1, desc_words=2))[0].messages[1]["content"]
    assert "Train Delta" in capped and "Train Beta" not in capped and "people who ..." in capped


def test_item_prompts_carry_fields_limits_and_prefill():
    ds = _dataset()
    req = item_requests(ds, [5], ProfileConfig(item_summary_words=200, item_reasoning_words=50))[0]
    system, user = req.messages[0]["content"], req.messages[1]["content"]
    assert "at most 200 words" in system and "at most 50 words" in system
    assert '"title": "HeldOut Test Movie"' in user and '"genres": "Comedy"' in user
    assert req.prefill == '{"summarization": "' and req.id == "item:5"
    assert item_requests(ds, [0], ProfileConfig(prefill=False))[0].prefill == ""


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_has_both_templates_with_limits(family):
    for kind in ("item", "user"):
        text = load_template(f"{family}_{kind}")
        assert "summarization" in text and "reasoning" in text and "$summary_words" in text
    ds = _dataset()
    assert item_requests(ds, [0], ProfileConfig(family=family))[0].messages[1]["content"]


class EchoBackend:
    """Writes a profile naming the first title it sees; fails on a chosen id (a deterministic stand-in)."""

    kind, model = "echo", "echo"

    def __init__(self, fail_ids=()):
        self.fail_ids = set(fail_ids)

    def cache_identity(self):
        return {"backend": "echo"}

    def generate(self, requests, gen, on_result):
        for i, r in enumerate(requests):
            if r.id in self.fail_ids:
                on_result(i, ChatResult(text="I don't know"))
                continue
            title = r.messages[1]["content"].split('"title": "')[1].split('"')[0]
            on_result(i, ChatResult(text=f'fans of {title}", "reasoning": "seen {r.id}"}}', completion_tokens=4))


def test_profiles_written_in_rlmrec_format_and_embeddings_load(tmp_path):
    ds = _dataset()
    cfg = ProfileConfig(max_repairs=0)
    backend = EchoBackend(fail_ids={"item:3", "user:2"})
    items = profile_items(backend, ds, cfg, progress=False)
    assert set(items.profiles) == {0, 1, 2, 4, 5} and items.profiles[0] == {"profile": "fans of Train Alpha",
                                                                             "reasoning": "seen item:0"}
    assert [f["id"] for f in items.failures] == ["item:3"] and items.failures[0]["raw"] == "I don't know"
    users = profile_users(backend, ds, items.profiles, cfg, progress=False)
    assert set(users.profiles) == {0, 1} and users.stats.failures == 1
    folder = profiles_folder(ds, backend.cache_identity(), cfg)
    itm = fallback_profiles(ds, items, "item", ds.n_items, cfg)
    usr = fallback_profiles(ds, users, "user", ds.n_users, cfg)
    assert itm[3]["profile"].startswith("title: Train Delta") and "fallback" in itm[3]["reasoning"]
    assert usr[2]["profile"] == "Train Alpha"  # user 2's training titles only
    write_profiles(folder, itm, usr, items.failures + users.failures, {"n": 1})
    with open(folder / "itm_prf.pkl", "rb") as fh:
        raw = pickle.load(fh)
    assert list(raw) == list(range(6)) and set(raw[0]) == {"profile", "reasoning"}
    assert (folder / "failures.jsonl").read_text().count("\n") == 2
    assert read_profiles(folder)[1][0]["profile"] == "fans of Train Alpha"
    emb_folder = embed_profiles(folder, EmbedConfig(), ds, progress=False)
    user_emb, item_emb = load_profile_embeddings(ds)
    assert user_emb.shape == (3, 384) and item_emb.shape == (6, 384) and item_emb.dtype == np.float32
    u2, i2 = load_profile_embeddings(folder=emb_folder)
    np.testing.assert_array_equal(i2, item_emb)
    # users 0 and 2 share their profile text's first item -> but different texts; identical texts, identical rows
    assert not np.allclose(item_emb[0], item_emb[1])
    assert set(p.name for p in emb_folder.iterdir()) >= {"usr_emb_np.pkl", "itm_emb_np.pkl", "usr_prf.pkl", "itm_prf.pkl"}


def test_profile_products_are_keyed_by_every_upstream_value_and_pointed_at_per_dataset(monkeypatch):
    """Two LLMs, two profile settings or two splits never share a profiles folder, and each dataset's current
    profiles / embeddings pointer moves only for that dataset."""
    monkeypatch.setattr("lmrec.rlmrec.profiles.embed_texts", lambda texts, cfg, **kw: np.ones((len(texts), 2)))
    ds, cfg = _dataset(), ProfileConfig()
    other_split = InteractionDataset("toy", ds.interactions.iloc[1:], 3, 6, ds.user_ids, ds.item_ids,
                                     item_text=ds.item_text, split_protocol="given")
    folders = {profiles_folder(ds, {"model": "a"}, cfg), profiles_folder(ds, {"model": "b"}, cfg),
               profiles_folder(ds, {"model": "a"}, ProfileConfig(n_users=1)),
               profiles_folder(other_split, {"model": "a"}, cfg)}
    assert len(folders) == 4 and profiles_folder(ds, {"model": "a"}, cfg) in folders
    profiles = {i: {"profile": f"p{i}", "reasoning": "r"} for i in range(6)}
    for d, model in ((ds, "a"), (other_split, "b")):
        folder = profiles_folder(d, {"model": model}, cfg)
        write_profiles(folder, profiles, {u: profiles[u] for u in range(3)}, [], {})
        write_pointer(profiles_pointer(dataset_key(d)), folder)
    assert current_profiles(ds) == profiles_folder(ds, {"model": "a"}, cfg).resolve()
    assert current_profiles(other_split) == profiles_folder(other_split, {"model": "b"}, cfg).resolve()
    emb = embed_profiles(current_profiles(ds), EmbedConfig(), ds, progress=False)
    emb_other = embed_profiles(current_profiles(other_split), EmbedConfig(), other_split, progress=False)
    assert emb != emb_other and rlmrec_data_folder(dataset_key(ds)) == emb.resolve()
    assert embed_profiles(current_profiles(ds), EmbedConfig(model="other-model"), ds, progress=False) != emb


def test_load_profile_embeddings_errors_name_the_fix(tmp_path):
    ds = _dataset()
    with pytest.raises(FileNotFoundError, match="02_embeddings"):
        load_profile_embeddings(InteractionDataset("other", ds.interactions.iloc[:5], 3, 6, ds.user_ids, ds.item_ids))
    with open(tmp_path / "usr_emb_np.pkl", "wb") as fh:
        pickle.dump(np.zeros((2, 4)), fh)
    with open(tmp_path / "itm_emb_np.pkl", "wb") as fh:
        pickle.dump(np.zeros((6, 4)), fh)
    with pytest.raises(ValueError, match="2 users"):
        load_profile_embeddings(ds, folder=tmp_path)
    assert load_profile_embeddings(folder=tmp_path)[0].shape == (2, 4)


def test_a_profile_budget_goes_to_the_most_interacted_items_and_users():
    ds = _dataset()  # training degree: items 0:2, 1:2, 2:1, 3:1, 4:0, 5:0; users 0:2, 1:3, 2:1
    backend = EchoBackend(fail_ids=set())
    items = profile_items(backend, ds, ProfileConfig(max_repairs=0, n_items=3), progress=False)
    assert set(items.profiles) == {0, 1, 2}  # the two most popular, then the lower id of the tie 2/3
    users = profile_users(backend, ds, items.profiles, ProfileConfig(max_repairs=0, n_users=1), progress=False)
    assert set(users.profiles) == {1}
    everyone = profile_users(backend, ds, items.profiles, ProfileConfig(max_repairs=0), progress=False)
    assert set(everyone.profiles) == {0, 1, 2}
