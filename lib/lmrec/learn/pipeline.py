"""What notebooks 40 and 41 share: the dataset (restricted to items with text), the content vectors, and
the key under which 40 leaves the pretrained towers for 41."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from ..data import InteractionDataset, load_dataset
from ..seqrec.subset import text_subset
from .content import ContentConfig, content_geometry, item_content_embeddings, postprocess_content
from .model import TowerConfig


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


def pretrained_key(dataset: str, split: str, seed: int, min_rating: float, content: ContentConfig,
                   tower: TowerConfig, postprocess: str = "none") -> dict[str, Any]:
    """Settings that identify a pretrained tower (the file 40 writes and 41 reads)."""
    key = {"dataset": dataset, "split": split, "seed": seed, "min_rating": min_rating, "content": content.key(),
           "tower": asdict(tower)}
    if postprocess != "none":  # older keys stay valid for the paper's setting
        key["content_postprocess"] = postprocess
    return key
