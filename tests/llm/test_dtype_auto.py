"""DTYPE="auto": bf16 only where the CPU computes it natively (AVX512-BF16/AMX at torch's AVX512 level)."""

from __future__ import annotations

import pytest
import torch

from lmrec.llm import hf
from lmrec.llm.chat import ChatConfig, LocalChat, make_backend
from lmrec.llm.hf import bf16_native, resolve_dtype, tiny_random_causal_lm


def _cpu(monkeypatch, capability: str, flags: set[str]) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(hf, "cpu_flags", lambda: set(flags))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)


@pytest.mark.parametrize(("capability", "flags", "native"), [
    ("AVX512", {"avx2", "avx512f", "avx512_bf16"}, True),     # Intel Xeon with AVX512-BF16
    ("AVX512", {"avx2", "avx512f", "amx_bf16"}, True),        # AMX only
    ("AVX2", {"avx2", "fma"}, False),                         # AMD EPYC (Rome) / older Intel: emulated bf16
    ("AVX512", {"avx2", "avx512f"}, False),                   # AVX512 without bf16 (Skylake-SP)
    ("AVX2", {"avx2", "avx512_bf16"}, False),                 # bf16 CPU but torch held at AVX2 dispatch
    ("DEFAULT", set(), False),
])
def test_bf16_is_native_only_with_bf16_units_and_avx512_dispatch(monkeypatch, capability, flags, native):
    _cpu(monkeypatch, capability, flags)
    assert bf16_native() is native
    assert resolve_dtype("auto", "cpu") == (torch.bfloat16 if native else torch.float32)
    assert hf.cpu_capability() == {"torch": capability, "bf16_flags": sorted({"avx512_bf16", "amx_bf16"} & flags),
                                   "bf16_native": native}


def test_onednn_held_below_bf16_is_not_native(monkeypatch):
    _cpu(monkeypatch, "AVX512", {"avx512_bf16"})
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not bf16_native() and resolve_dtype("auto") == torch.float32
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert bf16_native()


def test_explicit_dtypes_are_kept_and_bad_names_refused(monkeypatch):
    _cpu(monkeypatch, "AVX2", {"avx2"})
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16 and resolve_dtype(torch.float16) == torch.float16
    assert resolve_dtype("float32", "cpu") == torch.float32
    with pytest.raises(ValueError, match="DTYPE='bf16'"):
        resolve_dtype("bf16")


@pytest.mark.parametrize(("capability", "flags", "expected"), [
    ("AVX2", {"avx2"}, torch.float32), ("AVX512", {"avx512_bf16"}, torch.bfloat16)])
def test_local_backend_loads_a_model_folder_in_the_auto_dtype(monkeypatch, tmp_path, capability, flags, expected):
    model, tok = tiny_random_causal_lm(hidden=16, layers=1)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    _cpu(monkeypatch, capability, flags)
    chat = make_backend(ChatConfig(model=str(tmp_path), device="cpu", dtype="auto", batch_size=1))
    assert chat.dtype == expected and next(chat.lm.parameters()).dtype == expected
    assert chat.cache_identity()["dtype"] == str(expected)   # responses are cached per resolved dtype


def test_a_given_model_keeps_its_own_dtype_under_auto():
    model, tok = tiny_random_causal_lm(hidden=16, layers=1)
    assert LocalChat("tiny", model_obj=model.to(torch.bfloat16), tokenizer=tok).dtype == torch.bfloat16
    assert LocalChat("tiny", model_obj=model.float(), tokenizer=tok).cache_identity()["dtype"] == "torch.float32"
