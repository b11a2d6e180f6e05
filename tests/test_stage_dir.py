"""Products handed between notebooks live in one folder per content key (lmrec.paths.stage_dir)."""

from __future__ import annotations

import pytest

from lmrec.paths import stage_dir


def test_every_value_of_the_key_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    key = {"DATASET": "ml100k", "LLM_MODEL": "smollm2-135m-instruct", "SEED": 1}
    folder = stage_dir("llmrec", "augment", key)
    assert folder.parent == tmp_path / "cache" / "llmrec" and folder.name.startswith("augment-")
    assert stage_dir("llmrec", "augment", dict(reversed(list(key.items())))) == folder  # order does not matter
    assert stage_dir("llmrec", "augment", {**key, "LLM_MODEL": "gpt-4o-mini"}) != folder
    assert stage_dir("llmrec", "train", key) != folder and stage_dir("cf", "augment", key) != folder
    assert not folder.exists()  # a look-up creates nothing


def test_a_relative_outputs_root_is_taken_from_the_repository(monkeypatch, tmp_path):
    from lmrec.paths import REPO_ROOT, outputs_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMREC_OUTPUTS", "outputs/smoke-test-root")
    try:
        assert outputs_root() == REPO_ROOT / "outputs" / "smoke-test-root"
    finally:
        (REPO_ROOT / "outputs" / "smoke-test-root").rmdir()


def test_pointers_share_one_naming_and_keep_lookups_apart(tmp_path, monkeypatch):
    from lmrec.llmrec.pipeline import _current_pointer as llmrec_pointer
    from lmrec.paths import pointer_path, read_pointer, write_pointer
    from lmrec.recformer.pipeline import _current_pointer as recformer_pointer
    from lmrec.rlmrec.profiles import embeddings_pointer, profiles_pointer

    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    a = pointer_path("llmrec", "augment", "rlmrec:data/a_b", "rlmrec", 2023)
    assert a.parent == tmp_path / "cache" / "llmrec" and a.name.startswith("CURRENT-augment-rlmrec_data_a_b-rlmrec-2023-")
    # characters a file name cannot hold are replaced, yet two look-ups that differ only there stay apart
    assert pointer_path("llmrec", "augment", "rlmrec:data:a/b", "rlmrec", 2023) != a
    assert pointer_path("llmrec", "augment", "rlmrec:data/a_b", "rlmrec", 2024) != a
    assert pointer_path("llmrec", "profiles", "rlmrec:data/a_b", "rlmrec", 2023) != a
    # every method names its pointers through it
    assert llmrec_pointer("ml100k", "rlmrec", 4, 2023) == pointer_path("llmrec", "augment", "ml100k", "rlmrec", "r4", "s2023")
    assert recformer_pointer("ml100k", "loo_time", 7, "minilm") == pointer_path("recformer", "pretrained", "ml100k",
                                                                              "loo_time", "s7", "minilm")
    assert profiles_pointer("k1") == pointer_path("rlmrec", "profiles", "k1") != embeddings_pointer("k1")
    # the pointer names its target; a missing one says what to run
    target = tmp_path / "product"
    assert read_pointer(write_pointer(a, target), "run 20") == target.resolve()
    with pytest.raises(FileNotFoundError, match="run notebook 20 first"):
        read_pointer(pointer_path("llmrec", "augment", "other"), "run notebook 20 first")
