"""The ctranslate2 engine of the local backend: same prompts, same greedy tokens as transformers (float32),
the conversion cached per model, ``engine="auto"`` only for the offline SmolLM2 on a CPU."""

from __future__ import annotations

import pytest
import torch

from lmrec.llm.chat import ChatRequest, GenParams, LocalChat, resolve_engine
from lmrec.llm.hf import ctranslate2_folder, tiny_random_causal_lm

pytest.importorskip("ctranslate2")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    model, tok = tiny_random_causal_lm(hidden=64, layers=2, seed=3)
    with torch.no_grad():   # larger weights: clear argmax margins, so float32 engines agree token for token
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(20.0)
    folder = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _requests():
    return [ChatRequest([{"role": "user", "content": "word " * n}], prefill='{"a": "', id=str(n)) for n in (7, 1, 12)]


def test_ctranslate2_generates_the_greedy_tokens_of_transformers(tiny_folder, monkeypatch):
    monkeypatch.setenv("LMREC_MODELS_DIR", str(tiny_folder.parent / "models"))
    gen = GenParams(max_new_tokens=6)
    ref, out = {}, {}
    LocalChat(str(tiny_folder), dtype="float32", batch_size=2).generate(_requests(), gen, ref.__setitem__)
    ct2 = LocalChat(str(tiny_folder), engine="ctranslate2", quantization="float32", dtype="float32", batch_size=2)
    ct2.generate(_requests(), gen, out.__setitem__)
    assert sorted(out) == [0, 1, 2]
    for i in ref:
        assert (out[i].text, out[i].completion_tokens, out[i].finish_reason, out[i].prompt_tokens) == \
               (ref[i].text, ref[i].completion_tokens, ref[i].finish_reason, ref[i].prompt_tokens)
    assert ref[0].completion_tokens > 0
    assert ct2.cache_identity() == {"backend": "local", "model": str(tiny_folder), "engine": "ctranslate2-float32",
                                    "dtype": "torch.float32"}


def test_conversion_is_cached_per_model_and_quantization(tiny_folder, monkeypatch):
    monkeypatch.setenv("LMREC_MODELS_DIR", str(tiny_folder.parent / "models2"))
    a = ctranslate2_folder(str(tiny_folder), "int8")
    stamp = (a / "model.bin").stat().st_mtime_ns
    assert ctranslate2_folder(str(tiny_folder), "int8") == a and (a / "model.bin").stat().st_mtime_ns == stamp
    assert ctranslate2_folder(str(tiny_folder), "float32") != a
    with pytest.raises(ValueError, match="quantization='int4'"):
        ctranslate2_folder(str(tiny_folder), "int4")


def test_auto_engine_is_ctranslate2_only_for_smollm2_on_cpu():
    assert resolve_engine("auto", "smollm2-135m-instruct", "cpu") == "ctranslate2"
    assert resolve_engine("auto", "smollm2-135m-instruct", "cuda") == "transformers"
    assert resolve_engine("auto", "Qwen/Qwen2.5-0.5B-Instruct", "cpu") == "transformers"
    assert resolve_engine("auto", "smollm2-135m-instruct", "cpu", model_obj=object()) == "transformers"
    assert resolve_engine("transformers", "smollm2-135m-instruct", "cpu") == "transformers"
    with pytest.raises(ValueError, match="ENGINE='onnx'"):
        resolve_engine("onnx", "smollm2-135m-instruct")


@pytest.mark.slow
def test_smollm2_int8_writes_item_profiles():
    from lmrec.rlmrec.profiles import ProfileConfig, profile_items
    from tests.rlmrec.test_profiles import _dataset

    backend = LocalChat("smollm2-135m-instruct", engine="ctranslate2", batch_size=2)
    run = profile_items(backend, _dataset(), ProfileConfig(n_items=2, max_new_tokens=16), cache=None, progress=False)
    assert run.profiles, f"no profile parsed; failures: {run.failures}"
    assert backend.lm.dtype in (torch.float32, torch.bfloat16)   # the PyTorch model is still there for logits
