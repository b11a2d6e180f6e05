"""Building a CLLM4Rec model from a backbone name, and caching its trainable tables between notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..paths import cache_dir
from ..utils import atomic_path, stable_hash, write_json
from .model import CLLM4Rec
from .tokenizer import UserItemTokenizer

TINY_LM = "tiny-random"


def load_backbone(name: str, device: str | torch.device = "cpu") -> tuple[Any, Any]:
    """``(causal LM, tokenizer)``: ``tiny-random`` (a 2-layer random Llama with SmolLM2's tokenizer, for
    smoke runs), ``smollm2-135m-instruct`` (the offline default), ``gpt2`` or any Hugging Face name/folder."""
    from ..llm import load_causal_lm, tiny_random_causal_lm

    if name == TINY_LM:
        lm, tok = tiny_random_causal_lm(hidden=32, layers=2, heads=4, seed=0)
        return lm.to(device), tok
    return load_causal_lm(name, device=device)


def build_model(lm, base_tokenizer, n_users: int, n_items: int, freeze_lm: bool = True,
                device: str | torch.device = "cpu") -> tuple[CLLM4Rec, UserItemTokenizer]:
    """Wrap a causal LM and its tokenizer for ``n_users`` x ``n_items``."""
    tok = UserItemTokenizer(base_tokenizer, n_users, n_items)
    model = CLLM4Rec(lm, tok.n_vocab, n_users, n_items, freeze_lm=freeze_lm).to(device)
    return model, tok


def stage_dir(stage: str, params: dict) -> Path:
    """The cache folder of a stage (``pretrain``/``finetune``) keyed by the parameters it depends on."""
    return cache_dir("cllm4rec", f"{stage}-{stable_hash(params, 12)}")


def save_stage(folder: Path, state: dict[str, torch.Tensor], info: dict) -> Path:
    """Save the trainable tables (never the frozen LM) and a JSON record next to them, atomically."""
    with atomic_path(folder / "tables.pt") as tmp:
        torch.save(state, tmp)
    write_json(folder / "info.json", info)
    return folder / "tables.pt"


def load_stage(folder: Path, stage: str, needed_by: str) -> dict[str, torch.Tensor]:
    """Load a cached stage or say which notebook has to run first with the same parameters."""
    path = folder / "tables.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no cached CLLM4Rec {stage} tables for these parameters; {needed_by} reads "
                                f"them: run the {stage} notebook first with the same parameter values "
                                "(the runner's plan runs 50 -> 51 -> 52 in order).")
    return torch.load(path, map_location="cpu")
