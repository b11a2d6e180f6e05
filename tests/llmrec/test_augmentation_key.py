"""Notebook 20's products: one folder per parameter set (two LLMs never share one), and the 'current' pointer
notebook 21 reads."""

from __future__ import annotations

import pytest

from lmrec.llmrec.pipeline import augmentation_dir, find_augmentation, set_current_augmentation
from lmrec.paths import HandoffMismatch

PARAMS = {"DATASET": "ml100k", "SPLIT": "rlmrec", "MIN_RATING": 4, "SEED": 2023, "N_CANDIDATES": 10,
          "LLM_BACKEND": "local", "LLM_MODEL": "smollm2-135m-instruct", "EMBED_MODEL": "all-minilm-l6-v2"}


def test_runs_with_another_llm_write_another_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    first = augmentation_dir(PARAMS)
    assert augmentation_dir({**PARAMS, "LLM_MODEL": "gpt-4o-mini"}) != first
    assert augmentation_dir({**PARAMS, "LLM_BACKEND": "openai"}) != first
    assert augmentation_dir({**PARAMS, "EMBED_MODEL": "text-embedding-3-small"}) != first
    assert augmentation_dir({**PARAMS, "RUN_DIR": "/anywhere"}) == first  # where a run goes is no product value


def test_notebook_21_reads_the_last_successful_run_or_a_named_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    data = ("ml100k", "rlmrec", 4, 2023)
    with pytest.raises(FileNotFoundError, match="run notebooks/20_llmrec_augment first"):
        find_augmentation("current", *data)
    small, large = augmentation_dir(PARAMS), augmentation_dir({**PARAMS, "LLM_MODEL": "qwen2.5-7b"})
    small.mkdir(parents=True)
    large.mkdir(parents=True)
    set_current_augmentation(*data, small, PARAMS)
    assert find_augmentation("current", *data) == small.resolve()
    set_current_augmentation(*data, large, {**PARAMS, "LLM_MODEL": "qwen2.5-7b"})
    assert find_augmentation("current", *data) == large.resolve()
    assert find_augmentation(str(small), *data) == small
    with pytest.raises(FileNotFoundError, match="other values: SEED=2023"):  # other data has no current augmentation
        find_augmentation("current", "ml100k", "rlmrec", 4, 7)
    with pytest.raises(HandoffMismatch, match="MIN_RATING: this run 3, 20_llmrec_augment ran with 4"):  # a named folder
        find_augmentation(str(small), "ml100k", "rlmrec", 3, 2023)                                    # of other data
