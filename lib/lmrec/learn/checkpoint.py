"""Where notebook 40 leaves the pretrained towers for notebook 41: a content-keyed file under
``outputs/cache/learn/pretrained-<hash>/`` (:func:`lmrec.paths.stage_dir`) (the key covers the data, the content LLM and the tower shape, so 41
finds the checkpoint made with the same settings, whichever run folder 40 used)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..paths import stage_dir
from ..utils import atomic_path


def pretrained_path(key: dict[str, Any]) -> Path:
    """The checkpoint file for a settings dict (dataset, split, seed, content key, tower config)."""
    return stage_dir("learn", "pretrained", key) / "towers.pt"


def save_pretrained(state: dict[str, torch.Tensor], key: dict[str, Any], info: dict[str, Any] | None = None) -> Path:
    """Write the tower state dict with its key and ``info`` (metrics, epochs) atomically; returns the path."""
    path = pretrained_path(key)
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "key": key, "info": info or {}}, tmp)
    return path


def load_pretrained(key: dict[str, Any]) -> dict[str, Any]:
    """The record saved by :func:`save_pretrained` for ``key``; a clear error when 40 has not run."""
    path = pretrained_path(key)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no pretrained LEARN towers for these settings {key}. Run notebooks/40_learn_pretrain with "
            "the same DATASET, SPLIT, SEED, LLM and tower parameters first, or set PRETRAINED = False to "
            "finetune from a random initialisation.")
    return torch.load(path, map_location="cpu", weights_only=True)
