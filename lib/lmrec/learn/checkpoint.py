"""How notebook 40 hands its pretrained towers on to notebook 41: ``towers.pt`` in a content-keyed folder
``outputs/cache/learn/pretrained-<hash>/`` (:func:`lmrec.paths.stage_dir`) with the record of the run that made it,
and a pointer per ``SEED`` to the latest one (:func:`lmrec.paths.hand_on`). 41 reads the data, content LLM and
tower settings from that record (:func:`pretrained_towers`) and restates none of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..paths import Handoff, hand_on, pointer_path, stage_dir, take_over
from ..utils import atomic_path

TOWERS_FILE = "towers.pt"
PRETRAIN_NOTEBOOK = "40_learn_pretrain"


def towers_pointer(seed: int) -> Path:
    """The pointer to the latest towers notebook 40 pretrained with ``SEED = seed``."""
    return pointer_path("learn", "pretrained", f"s{seed}")


def save_towers(state: dict[str, torch.Tensor], key: dict[str, Any], params: dict[str, Any],
                info: dict[str, Any] | None = None, run_dir: Path | None = None) -> Path:
    """Write the tower state dict (with ``key`` and ``info``: metrics, epochs) atomically into the folder of
    ``key``, then hand it on with the run's ``params`` (the pointer of ``params['SEED']`` moves last)."""
    path = stage_dir("learn", "pretrained", key) / TOWERS_FILE
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "key": key, "info": info or {}}, tmp)
    hand_on(towers_pointer(params["SEED"]), path.parent, PRETRAIN_NOTEBOOK, params, run_dir)
    return path


def pretrained_towers(source: str, seed: int) -> Handoff:
    """The towers notebook 41 starts from and the parameters of the notebook-40 run that made them: ``source``
    ``auto`` takes the latest with this ``seed``; a folder (the towers' or 40's run folder) takes that one and
    must have been made with this ``seed``."""
    return take_over(source, towers_pointer(seed),
                     f"no pretrained LEARN towers for SEED={seed}; run notebooks/{PRETRAIN_NOTEBOOK} with this SEED "
                     "first, or give PRETRAIN_RUN a folder it wrote", requested={"SEED": seed})


def load_towers(handoff: Handoff) -> dict[str, Any]:
    """The record :func:`save_towers` wrote (``state_dict``, ``key``, ``info``)."""
    path = handoff.folder / TOWERS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no LEARN towers there; run notebooks/{PRETRAIN_NOTEBOOK} again")
    return torch.load(path, map_location="cpu", weights_only=True)
