"""What notebooks 40 and 41 share: the dataset (restricted to items with text), the content vectors, the
configs built from a run's parameters (40's own; for 41, the ones 40 recorded), and the key of 40's towers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from ..data import InteractionDataset, load_dataset
from ..paths import Handoff
from ..seqrec.subset import text_subset
from .content import ContentConfig, content_geometry, item_content_embeddings, postprocess_content
from .model import TowerConfig
from .train import LearnTrainConfig


def prepare_data(name: str, split: str, seed: int, min_rating: float = 0) -> tuple[InteractionDataset, dict]:
    """Load the dataset; when some items lack text, keep the subset with text (stated in the stats)."""
    dataset, stats = text_subset(load_dataset(name, split, seed=seed, min_rating=min_rating))
    if not stats["items_with_text"]:
        raise ValueError(f"dataset {name}: no item has text; LEARN embeds item texts (ML-100K and the Recformer "
                         "format with meta_data.json or item_text.tsv have them)")
    return dataset, stats


def item_texts(dataset: InteractionDataset) -> list[str]:
    """One text per item: the ``text`` column when the format has one, else ``field: value`` pairs."""
    if dataset.item_text is not None and list(dataset.item_text.columns) == ["text"]:
        return dataset.item_text["text"].astype(str).tolist()
    return dataset.item_texts()


def content_vectors(dataset: InteractionDataset, config: ContentConfig, progress: bool = True,
                    postprocess: str = "none") -> tuple[torch.Tensor, dict[str, float]]:
    """The frozen LLM vectors of every item ``[n_items, llm_hidden]`` (post-processed by
    :func:`~lmrec.learn.content.postprocess_content`) and stats: embedding throughput and the vectors'
    geometry before/after (mean pairwise cosine, effective rank)."""
    stats: dict[str, float] = {}
    vecs = torch.as_tensor(np.ascontiguousarray(item_content_embeddings(item_texts(dataset), config, progress=progress,
                                                                        stats=stats)))
    out = postprocess_content(vecs, postprocess)
    stats.update({f"raw_{k}": v for k, v in content_geometry(vecs).items()})
    stats.update({f"{postprocess}_{k}": v for k, v in content_geometry(out).items()} if postprocess != "none" else {})
    return out, stats


def content_config(params: Mapping[str, Any] | Handoff, device: str) -> ContentConfig:
    """The frozen content LLM of a run's parameters (``LLM``, ``LLM_MAX_LENGTH``, ``LLM_BATCH_SIZE``, ``LLM_DTYPE``)."""
    return ContentConfig(model=params["LLM"], max_length=params["LLM_MAX_LENGTH"], batch_size=params["LLM_BATCH_SIZE"],
                         device=str(device), dtype=params["LLM_DTYPE"])


def tower_config(params: Mapping[str, Any] | Handoff, input_dim: int) -> TowerConfig:
    """The tower shape of a run's parameters (``HIDDEN_DIM``, ``LAYERS``, ``N_HEADS``, ``OUTPUT_DIM``, ``DROPOUT``,
    ``MAX_LEN``, ``POSITION_EMBEDDINGS``) over content vectors of ``input_dim``."""
    return TowerConfig(input_dim=input_dim, hidden_dim=params["HIDDEN_DIM"], n_layers=params["LAYERS"],
                       n_heads=params["N_HEADS"], output_dim=params["OUTPUT_DIM"], dropout=params["DROPOUT"],
                       max_len=params["MAX_LEN"], position_embeddings=params["POSITION_EMBEDDINGS"])


def train_config(stage: str, params: Mapping[str, Any] | Handoff) -> LearnTrainConfig:
    """One training stage from a run's parameters (``EPOCHS``, ``BATCH_SIZE``, ``LR``, ..., ``MASK_HISTORY``: the
    selection's protocol; pretraining also ``LOGQ_CORRECTION``, finetuning ``HISTORY_NOT_NEGATIVES``);
    ``TIME_LIMIT_S = 0`` means no budget. 41 passes its own parameters over 40's record (``MASK_HISTORY`` is 40's)."""
    own = {"logq_correction": params["LOGQ_CORRECTION"]} if stage == "pretrain" else {"history_not_negatives": params["HISTORY_NOT_NEGATIVES"]}
    return LearnTrainConfig(stage=stage, epochs=params["EPOCHS"], batch_size=params["BATCH_SIZE"], lr=params["LR"],
                            weight_decay=params["WEIGHT_DECAY"], warmup_epochs=params["WARMUP_EPOCHS"],
                            samples_per_user=params["SAMPLES_PER_USER"], logit_scale=params["LOGIT_SCALE"],
                            eval_every=params["EVAL_EVERY"], patience=params["PATIENCE"],
                            mask_history=params["MASK_HISTORY"],
                            time_limit_s=params["TIME_LIMIT_S"] or None, seed=params["SEED"], **own)


def pretrained_key(params: Mapping[str, Any] | Handoff, content: ContentConfig, tower: TowerConfig) -> dict[str, Any]:
    """What identifies notebook 40's towers (the folder they are saved in): data, content LLM, post-processing,
    tower shape, seed, and the protocol that selected their epoch (``MASK_HISTORY``)."""
    key = {"dataset": params["DATASET"], "split": params["SPLIT"], "seed": params["SEED"],
           "min_rating": params["MIN_RATING"], "content": content.key(), "tower": asdict(tower)}
    if params["CONTENT_POSTPROCESS"] != "none":  # older keys stay valid for the paper's setting
        key["content_postprocess"] = params["CONTENT_POSTPROCESS"]
    if not params["MASK_HISTORY"]:  # older keys (history masked, the only protocol then) stay valid
        key["mask_history"] = False
    return key
