"""Products handed between notebooks live in one folder per content key (lmrec.paths.stage_dir)."""

from __future__ import annotations

from lmrec.cllm4rec import stage_dir as cllm4rec_stage_dir
from lmrec.learn import pretrained_path
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
    # the methods' own helpers use it
    assert cllm4rec_stage_dir("finetune", key) == stage_dir("cllm4rec", "finetune", key)
    assert pretrained_path(key).parent == stage_dir("learn", "pretrained", key)


def test_a_relative_outputs_root_is_taken_from_the_repository(monkeypatch, tmp_path):
    from lmrec.paths import REPO_ROOT, outputs_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMREC_OUTPUTS", "outputs/smoke-test-root")
    try:
        assert outputs_root() == REPO_ROOT / "outputs" / "smoke-test-root"
    finally:
        (REPO_ROOT / "outputs" / "smoke-test-root").rmdir()
