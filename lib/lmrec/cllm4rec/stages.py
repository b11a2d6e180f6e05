"""What notebooks 50 -> 51 -> 52 hand on: the trained user/item tables of a stage (never the frozen LM) in a
folder keyed by every value they depend on, with the record of the run that made them, and a pointer per
``SEED`` to the latest (:func:`lmrec.paths.hand_on`). The next notebook takes the data, LM and earlier settings
from that record (:func:`take_over_tables`) and restates none; the stage configs are built from a run's
parameters here, once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..paths import Handoff, hand_on, pointer_path, stage_dir, take_over
from ..utils import atomic_path, write_json
from .train import FinetuneConfig, PretrainConfig

TABLES_FILE = "tables.pt"
NOTEBOOKS = {"pretrain": "50_cllm4rec_pretrain", "finetune": "51_cllm4rec_finetune"}
RUN_ONLY = ("DEVICE", "TIME_LIMIT_S", "PRETRAIN_RUN", "FINETUNE_RUN")  # where/how long a run ran, not what it made
Params = Mapping[str, Any] | Handoff


def tables_pointer(stage: str, seed: int) -> Path:
    """The pointer to the latest tables of ``stage`` (``pretrain`` | ``finetune``) made with ``SEED = seed``."""
    return pointer_path("cllm4rec", stage, f"s{seed}")


def save_tables(stage: str, state: dict[str, torch.Tensor], params: dict[str, Any], info: dict[str, Any],
                run_dir: Path | None = None) -> Path:
    """Save a stage's trainable tables and ``info`` (history, kept epoch) in the folder keyed by ``params`` (every
    value the tables depend on: for 51, 50's recorded ones too), then hand them on (the pointer moves last)."""
    folder = stage_dir("cllm4rec", stage, {k: v for k, v in params.items() if k not in RUN_ONLY})
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / TABLES_FILE) as tmp:
        torch.save(state, tmp)
    write_json(folder / "info.json", info)
    hand_on(tables_pointer(stage, params["SEED"]), folder, NOTEBOOKS[stage], params, run_dir)
    return folder


def take_over_tables(stage: str, source: str, seed: int) -> Handoff:
    """The tables of ``stage`` a later notebook starts from, with the parameters of the run that made them:
    ``source`` ``auto`` takes the latest with this ``seed`` (the split of ``user_80_10_10`` is drawn with it); a
    folder (the tables' or the run folder) takes that one and must have been made with this ``seed``."""
    notebook = NOTEBOOKS[stage]
    return take_over(source, tables_pointer(stage, seed),
                     f"no CLLM4Rec {stage} tables for SEED={seed}; run notebooks/{notebook} with this SEED first, or "
                     f"give {stage.upper()}_RUN a folder it wrote", requested={"SEED": seed})


def load_tables(handoff: Handoff) -> dict[str, torch.Tensor]:
    """The tables a :class:`~lmrec.paths.Handoff` names."""
    path = handoff.folder / TABLES_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no CLLM4Rec tables there; run notebooks/{handoff.notebook or '50/51'} again")
    return torch.load(path, map_location="cpu")


def pretrain_config(params: Params) -> PretrainConfig:
    """Pretraining from notebook 50's parameters."""
    return PretrainConfig(rounds=params["PT_ROUNDS"], content_warmup_epochs=params["PT_WARMUP"], lr=params["PT_LR"],
                          batch_size=params["BATCH_SIZE"], max_items=params["MAX_ITEMS"],
                          max_content_tokens=params["MAX_CONTENT_TOKENS"], content_docs_per_epoch=params["CONTENT_DOCS"],
                          lambda_v=params["LAMBDA_V"], predict_first=params["PREDICT_FIRST"], seed=params["SEED"])


def finetune_config(params: Params) -> FinetuneConfig:
    """Finetuning from notebook 51's parameters merged over those 50 recorded (batch size, items per prompt,
    content documents and the regulariser's weight are 50's)."""
    return FinetuneConfig(epochs=params["FT_EPOCHS"], lr=params["FT_LR"], content_lr=params["FT_CONTENT_LR"],
                          batch_size=params["BATCH_SIZE"], max_items=params["MAX_ITEMS"], mask_ratio=params["MASK_RATIO"],
                          targets=params["REC_TARGETS"], lambda_v=params["LAMBDA_V"],
                          content_epochs=params["FT_CONTENT_EPOCHS"], max_content_tokens=params["MAX_CONTENT_TOKENS"],
                          content_docs_per_epoch=params["CONTENT_DOCS"], eval_batch_size=params["EVAL_BATCH"],
                          patience=params["FT_PATIENCE"], time_limit_s=params["TIME_LIMIT_S"] or None,
                          seed=params["SEED"])
