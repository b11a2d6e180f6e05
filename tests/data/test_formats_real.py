"""The papers' real published splits (../shared/data): statistics as documented, write/read round trips."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from lmrec.data import formats, load_dataset
from lmrec.paths import REPO_ROOT

pytestmark = pytest.mark.shared_data

# The numbers of ../shared/data/README.md, per folder: users, items, train / valid / test interactions.
DOCUMENTED = {
    "rlmrec_yelp": ("rlmrec", 11_091, 11_010, 166_620, 55_479, 55_436),
    "cllm4rec_beauty": ("cllm4rec", 10_553, 6_086, 70_614, 11_767, 11_767),
    # README: 76,896 interactions in all, leave-one-out: one valid and one test item per user with >= 3.
    "recformer_scientific": ("recformer", 11_041, 5_327, 76_896 - 2 * 11_039, 11_039, 11_039),
    # README: 68,933 training interactions; val.json == test.json, 1,845 users with one item each.
    "llmrec_netflix": ("llmrec", 13_187, 17_366, 68_933, 1_845, 1_845),
}


@pytest.mark.parametrize("folder_name", sorted(DOCUMENTED))
def test_real_split_statistics_match_the_documented_numbers(folder_name, shared_folder, capsys):
    fmt, n_users, n_items, n_train, n_valid, n_test = DOCUMENTED[folder_name]
    ds = formats.read_format(fmt, shared_folder(folder_name))
    s = ds.stats()
    assert (s["n_users"], s["n_items"], s["n_train"], s["n_valid"], s["n_test"]) == (n_users, n_items, n_train, n_valid, n_test)
    printed = capsys.readouterr().out
    assert f"{n_users:,} users, {n_items:,} items, {n_train:,} / {n_valid:,} / {n_test:,}" in printed


def test_load_dataset_reads_a_format_folder(shared_folder):
    ds = load_dataset(f"cllm4rec:{shared_folder('cllm4rec_beauty')}", split="given")
    assert ds.train.shape == (10_553, 6_086) and ds.split_protocol == "given"


def test_a_relative_format_folder_is_taken_from_the_repository_root(shared_folder, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # notebooks run elsewhere than the repository root
    relative = os.path.relpath(shared_folder("cllm4rec_beauty"), REPO_ROOT)
    ds = load_dataset(f"cllm4rec:{relative}", split="given")
    assert ds.train.shape == (10_553, 6_086)


def test_netflix_loader_says_val_equals_test(shared_folder, capsys):
    ds = formats.read_format("llmrec", shared_folder("llmrec_netflix"))
    assert "val.json and test.json are identical" in capsys.readouterr().out
    assert (ds.valid != ds.test).nnz == 0


def test_recformer_sequences_keep_file_order_and_repeats(shared_folder):
    import json

    folder = shared_folder("recformer_scientific")
    train = json.loads((folder / "train.json").read_text())
    test = json.loads((folder / "test.json").read_text())
    ds = formats.read_format("recformer", folder, verbose=False)
    seqs = ds.sequences(("train", "valid", "test"))
    assert seqs[0].tolist()[:len(train["0"])] == train["0"]
    assert seqs[0].tolist()[-1] == test["0"][0]
    assert ds.item_ids[0] == "B0000223SI"  # smap.json: B0000223SI -> 0
    assert (ds.item_text["text"] != "").sum() == 1_585


@pytest.mark.parametrize("folder_name", sorted(DOCUMENTED))
def test_real_split_round_trips_through_its_writer(folder_name, shared_folder, tmp_path):
    fmt = DOCUMENTED[folder_name][0]
    original = formats.read_format(fmt, shared_folder(folder_name), verbose=False)
    options = {"text_variant": "tsv"} if fmt == "recformer" else {}
    again = formats.read_format(fmt, formats.write_format(fmt, original, tmp_path / fmt, **options), verbose=False)
    pd.testing.assert_frame_equal(original.interactions, again.interactions)
    assert (original.n_users, original.n_items) == (again.n_users, again.n_items)
    assert np.array_equal(original.user_ids, again.user_ids) and np.array_equal(original.item_ids, again.item_ids)
    if original.item_text is not None:
        pd.testing.assert_frame_equal(original.item_text, again.item_text)


def test_recformer_scientific_repeats_reach_into_val_and_test(shared_folder):
    ds = formats.read_format("recformer", shared_folder("recformer_scientific"), verbose=False)
    assert ds.meta["held_out_in_train"] == {"valid": 869, "test": 176}
    for name in ("rlmrec_yelp", "cllm4rec_beauty", "llmrec_netflix"):
        fmt = DOCUMENTED[name][0]
        assert formats.read_format(fmt, shared_folder(name), verbose=False).meta["held_out_in_train"] == {"valid": 0, "test": 0}


def test_recformer_scientific_full_has_text_for_every_item(shared_folder):
    """The folder of the Scientific table (issue 23): Recformer's split with its meta_data.json for all 5,327 items."""
    ds = formats.read_format("recformer", shared_folder("recformer_scientific_full"), verbose=False)
    s = ds.stats()
    assert (s["n_users"], s["n_items"], s["n_train"], s["n_valid"], s["n_test"]) == (11_041, 5_327, 54_818, 11_039, 11_039)
    text = ds.item_text
    assert len(text) == 5_327 and (text["title"].str.strip() != "").sum() == 5_327
    assert (text["brand"].str.strip() != "").sum() == 5_312 and (text["category"].str.strip() != "").sum() == 5_154
