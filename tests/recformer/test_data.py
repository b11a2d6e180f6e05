"""Item attributes, the text subset, the Amazon pretraining corpus and the 30 -> 31 checkpoint hand-over."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.recformer.config import RecformerConfig
from lmrec.recformer.corpus import load_pretraining_corpus, prepare_amazon_pretraining
from lmrec.recformer.items import item_attributes, restrict_to_text, split_amazon_text

from .fixtures import successor_dataset


def test_amazon_text_splits_into_title_category_brand():
    text = "DAP INC 18152 10.1oz White Caulk. Industrial & Scientific Tapes Caulk. DAP. "
    assert split_amazon_text(text) == [("title", "DAP INC 18152 10.1oz White Caulk"),
                                       ("category", "Industrial & Scientific Tapes Caulk"), ("brand", "DAP")]
    assert split_amazon_text("A. B. C. D.") == [("title", "A. B"), ("category", "C"), ("brand", "D")]


def test_movielens_style_columns_become_key_value_pairs():
    ds = successor_dataset(n_items=4, n_users=3)
    attrs = item_attributes(ds)
    assert attrs[1] == [("title", "river tiger"), ("year", "1991")]
    with pytest.raises(ValueError, match="lacks column"):
        item_attributes(ds, ("brand",))


def test_text_subset_drops_items_without_text_and_users_losing_targets():
    ds = successor_dataset(n_items=16, n_users=40)
    attrs = item_attributes(ds)
    attrs[3] = []  # item 3 has no text
    sub, stats = restrict_to_text(ds, attrs)
    assert stats["items_kept"] == 15 and "3" not in set(sub.item_ids)
    inter = ds.interactions
    lost = set(inter[(inter["item"] == 3) & inter["split"].isin(["valid", "test"])]["user"])
    assert stats["users_kept"] == 40 - len(lost) == sub.n_users
    # remaining sequences are the originals without item 3, re-numbered
    raw_items = sub.item_ids[sub.sequences("train")[0]]
    first_user = int(sub.user_ids[0])
    orig = [str(i) for i in ds.sequences("train")[first_user] if i != 3]
    assert list(raw_items) == orig


def _write_gz(path, records):
    with gzip.open(path, "wt") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")


def test_amazon_corpus_preparation_on_tiny_files(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "corpus"
    raw.mkdir()
    _write_gz(raw / "meta_Toys.json.gz", [{"asin": "a1", "title": "Red car", "brand": "Acme", "category": ["Toys", "Cars"]},
                                           {"asin": "a2", "title": "Blue boat", "brand": "", "category": ["Toys"]},
                                           {"asin": "a3", "title": None, "brand": "X", "category": []}])
    _write_gz(raw / "Toys_5.json.gz", [{"reviewerID": "u1", "asin": "a2", "unixReviewTime": 20},
                                        {"reviewerID": "u1", "asin": "a1", "unixReviewTime": 10},
                                        {"reviewerID": "u1", "asin": "a3", "unixReviewTime": 30},
                                        {"reviewerID": "u2", "asin": "a1", "unixReviewTime": 5}])
    counts = prepare_amazon_pretraining(raw, out, categories=("Toys",), dev_category=None)
    assert counts == {"items": 2, "train_sequences": 2, "dev_sequences": 0}
    assert json.loads((out / "train.json").read_text()) == [["a1", "a2"], ["a1"]]  # time order, a3 has no title
    seqs, attrs, asins = load_pretraining_corpus(out)
    assert asins == ["a1", "a2"] and [s.tolist() for s in seqs] == [[0, 1], [0]]
    assert attrs[0] == [("title", "Red car"), ("brand", "Acme"), ("category", "Toys Cars")]
    assert attrs[1] == [("title", "Blue boat"), ("category", "Toys")]


def test_missing_amazon_files_name_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"meta_Automotive\.json\.gz.*amazon_v2"):
        prepare_amazon_pretraining(tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="prepare_amazon_pretraining"):
        load_pretraining_corpus(tmp_path)


def test_checkpoint_hand_over_restores_weights_and_checks_the_layout(tmp_path, monkeypatch):
    from lmrec.recformer import pipeline

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    cfg = RecformerConfig(max_token_num=32, attention_window=8)
    model, _, _ = pipeline.load_encoder("minilm", cfg, n_layers=1)
    with torch.no_grad():
        model.embeddings.item_position_embeddings.weight.fill_(0.5)
    params = {"DATASET": "ml100k", "SPLIT": "loo_time", "SEED": 1, "LM": "minilm", "MAX_STEPS": 40}
    path = pipeline.save_encoder_checkpoint(model, "minilm", pipeline.encoder_checkpoint_path(params))
    # a pretraining run with another schedule is another checkpoint, whatever the run folder
    assert pipeline.encoder_checkpoint_path({**params, "MAX_STEPS": 80}) != path
    assert pipeline.encoder_checkpoint_path({**params, "DEVICE": "cuda"}) == path  # where it ran is not what it is
    pipeline.set_current_pretrained("ml100k", "loo_time", 1, "minilm", path)
    loaded, _, info = pipeline.load_for_finetuning("auto", "minilm", cfg, "ml100k", "loo_time", 1, n_layers=1)
    assert info["pretrained"] == str(path.resolve())
    assert torch.equal(loaded.embeddings.item_position_embeddings.weight, torch.full_like(loaded.embeddings.item_position_embeddings.weight, 0.5))
    with pytest.raises(ValueError, match="MAX_ITEM_EMBEDDINGS"):
        pipeline.load_for_finetuning("auto", "minilm", RecformerConfig(max_item_embeddings=9, max_token_num=32),
                                     "ml100k", "loo_time", 1, n_layers=1)
    with pytest.raises(FileNotFoundError, match="30_recformer_pretrain"):
        pipeline.load_for_finetuning("auto", "minilm", cfg, "ml100k", "loo_time", 2, n_layers=1)


def test_prepare_data_samples_users_for_smoke_runs(monkeypatch, tmp_path):
    from lmrec.recformer import pipeline

    ds = successor_dataset(n_items=16, n_users=40)
    monkeypatch.setattr(pipeline, "load_dataset", lambda *a, **k: ds)
    sub, attrs, stats = pipeline.prepare_data("x", "loo_time", 0, max_users=10)
    assert sub.n_users == 10 and len(attrs) == sub.n_items == stats["items_kept"]
    assert isinstance(sub.interactions, pd.DataFrame) and np.all(sub.matrix("test").getnnz(axis=1) == 1)


def test_zero_shot_numbers_are_reused_only_for_the_same_layout_and_users():
    from lmrec.recformer.pipeline import stored_zero_shot

    cfg = RecformerConfig(max_token_num=64)
    info = {"pretrain_config": cfg.to_dict(),
            "pretrain_extra": {"zero_shot": {"recformer": {"mrr": 0.1}}, "params": {"MAX_USERS": 0, "TEXT_FIELDS": ""}}}
    assert stored_zero_shot(info, cfg, {"MAX_USERS": 0, "TEXT_FIELDS": ""}) == {"recformer": {"mrr": 0.1}}
    assert stored_zero_shot(info, RecformerConfig(max_token_num=32), {"MAX_USERS": 0, "TEXT_FIELDS": ""}) is None
    assert stored_zero_shot(info, cfg, {"MAX_USERS": 40, "TEXT_FIELDS": ""}) is None
