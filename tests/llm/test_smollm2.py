"""The offline default model end to end: SmolLM2-135M-Instruct (from the GGUF) writes a parseable profile."""

from __future__ import annotations

import pytest
import torch

from lmrec.llm.chat import LocalChat, response_cache
from lmrec.llm.hf import load_causal_lm, smollm2_folder
from lmrec.rlmrec.profiles import ProfileConfig, profile_items
from tests.rlmrec.test_profiles import _dataset

pytestmark = pytest.mark.slow


def test_converted_folder_reloads_as_plain_llama():
    folder = smollm2_folder()
    assert (folder / "config.json").exists() and "quantization_config" not in (folder / "config.json").read_text()
    model, tok = load_causal_lm("smollm2-135m-instruct")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.dtype == torch.float32 and tok.padding_side == "left"
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "4" in tok.decode(out[0, ids["input_ids"].shape[1]:])


def test_smollm2_writes_an_item_profile(tmp_path):
    ds = _dataset()
    backend = LocalChat("smollm2-135m-instruct", batch_size=2, dtype=torch.bfloat16)
    cfg = ProfileConfig(n_items=2, max_new_tokens=16, max_repairs=1)
    run = profile_items(backend, ds, cfg, cache=response_cache(tmp_path / "r.sqlite"), progress=False)
    assert len(run.profiles) + len(run.failures) == 2
    assert run.profiles, f"no profile parsed; failures: {run.failures}"
    for prof in run.profiles.values():
        assert prof["profile"].strip() and prof["reasoning"].strip()
    assert run.stats.completion_tokens > 0 and run.stats.calls >= 2
    again = profile_items(backend, ds, cfg, cache=response_cache(tmp_path / "r.sqlite"), progress=False)
    assert again.stats.calls == 0 and again.profiles == run.profiles
