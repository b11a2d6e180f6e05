"""What notebooks 30/31 share: data preparation, the pretrained checkpoint hand-over, metric captions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import InteractionDataset, load_dataset
from ..eval import EvalResult
from ..paths import hand_on, pointer_path, stage_dir, take_over
from ..utils import atomic_path
from .config import RecformerConfig
from .encoder import load_encoder
from .items import Attributes, item_attributes, restrict_to_text
from .model import Recformer

HEADLINE = ("ndcg@10", "recall@10", "mrr", "ndcg@50", "recall@50")


def prepare_data(name: str, split: str, seed: int, fields: str = "", max_users: int = 0
                 ) -> tuple[InteractionDataset, list[Attributes], dict]:
    """Load the dataset; when some items have no text keep the subset of items with text (and the users
    whose valid/test items have text); ``max_users > 0`` keeps a random sample of that many users (smoke
    runs). Returns ``(dataset, attributes, subset stats or {})``."""
    dataset = load_dataset(name, split, seed)
    attrs = item_attributes(dataset, tuple(f for f in fields.split(",") if f) or None)
    stats: dict = {}
    if not all(attrs):
        dataset, attrs, stats = _subset(dataset, attrs, None)
    if max_users and max_users < dataset.n_users:
        users = np.sort(np.random.default_rng(seed).choice(dataset.n_users, max_users, replace=False))
        dataset, attrs, sampled = _subset(dataset, attrs, users)
        stats = {**sampled, **{k: v for k, v in stats.items() if k in ("items_with_text", "items_total", "users_total",
                                                                        "interactions_total")},
                 "users_sampled": int(max_users)}
    return dataset, attrs, stats


def _subset(dataset: InteractionDataset, attrs: list[Attributes], users) -> tuple[InteractionDataset, list[Attributes], dict]:
    sub, stats = restrict_to_text(dataset, attrs, users)
    keep = {raw: i for i, raw in enumerate(dataset.item_ids)}
    return sub, [attrs[keep[raw]] for raw in sub.item_ids], stats


RUN_ONLY = ("DEVICE", "EVAL_BATCH_SIZE", "MASK_HISTORY")  # notebook-30 parameters that do not change the encoder


def encoder_checkpoint_path(params: dict) -> Path:
    """Where notebook 30 leaves an encoder: a folder keyed by every parameter of the pretraining run (data,
    layout, schedule, seed), so two runs that differ in any of them never share a checkpoint."""
    return stage_dir("recformer", "pretrained", {k: v for k, v in params.items() if k not in RUN_ONLY}) / "encoder.pt"


def _current_pointer(dataset: str, split: str, seed: int, lm: str) -> Path:
    return pointer_path("recformer", "pretrained", dataset, split, f"s{seed}", lm)


def set_current_pretrained(dataset: str, split: str, seed: int, lm: str, path: Path, params: dict | None = None,
                           run_dir: Path | None = None) -> Path:
    """Hand ``path`` (the latest notebook-30 checkpoint) on to ``PRETRAINED='auto'`` of notebook 31 for this
    data/seed/LM, with the parameters of the run that wrote it (:func:`lmrec.paths.hand_on`); 30 calls it after saving."""
    return hand_on(_current_pointer(dataset, split, seed, lm), path, "30_recformer_pretrain", params or {}, run_dir)


def find_pretrained(dataset: str, split: str, seed: int, lm: str) -> Path:
    """The checkpoint of the latest notebook-30 run for this DATASET/SPLIT/SEED/LM (:func:`lmrec.paths.take_over`)."""
    return take_over("auto", _current_pointer(dataset, split, seed, lm),
                     f"no pretrained Recformer checkpoint for DATASET={dataset!r}, SPLIT={split!r}, SEED={seed}, "
                     f"LM={lm!r}; run notebook 30_recformer_pretrain with them first, give PRETRAINED "
                     "a .pt path, or set PRETRAINED='none'", requested={"LM": lm}).product


def save_encoder_checkpoint(model: Recformer, lm: str, path: Path, extra: dict | None = None) -> Path:
    with atomic_path(path) as tmp:
        torch.save({"state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "config": model.config.to_dict(), "lm": lm, "extra": extra or {}}, tmp)
    return path


def load_for_finetuning(pretrained: str, lm: str, config: RecformerConfig, dataset: str, split: str,
                        seed: int, n_layers: int = 0) -> tuple[Recformer, object, dict]:
    """The encoder notebook 31 starts from: ``pretrained='auto'`` reads the latest notebook-30 checkpoint for the
    same dataset/split/seed/LM, a path reads that file, ``'none'`` starts from the language model's own weights."""
    model, tokenizer, info = load_encoder(lm, config, n_layers)
    if pretrained == "none":
        info["pretrained"] = "none (the language model's own weights only)"
        return model, tokenizer, info
    path = find_pretrained(dataset, split, seed, lm) if pretrained == "auto" else Path(pretrained)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no pretrained Recformer checkpoint there; run notebook 30_recformer_pretrain "
                                "again, give PRETRAINED another .pt path, or set PRETRAINED='none'")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    saved_lm = ckpt.get("lm", ckpt.get("backbone"))  # "backbone": checkpoints written before the rename
    if saved_lm != lm or ckpt["config"]["max_item_embeddings"] != config.max_item_embeddings:
        raise ValueError(f"{path}: pretrained with LM={saved_lm!r}, MAX_ITEM_EMBEDDINGS="
                         f"{ckpt['config']['max_item_embeddings']}; set the same values here (got {lm!r}, "
                         f"{config.max_item_embeddings})")
    model.load_state_dict(ckpt["state"])
    info["pretrained"] = str(path)
    info["pretrain_config"] = ckpt["config"]
    info["pretrain_extra"] = ckpt.get("extra", {})
    return model, tokenizer, info


def stored_zero_shot(info: dict, config: RecformerConfig, params: dict, keys=("MAX_USERS", "TEXT_FIELDS")) -> dict | None:
    """Notebook 30's zero-shot test metrics kept with its checkpoint, when they hold for this run: same
    layout (``config``) and the same data selection (``keys`` of the two notebooks' parameters)."""
    extra = info.get("pretrain_extra") or {}
    stored, cfg = extra.get("zero_shot"), info.get("pretrain_config") or {}
    layout = ("max_attr_num", "max_attr_length", "max_item_embeddings", "max_token_num", "attention_window", "pooler")
    if not stored or any(cfg.get(k) != getattr(config, k) for k in layout):
        return None
    if any(extra.get("params", {}).get(k) != params.get(k) for k in keys):
        return None
    return stored


def headline(result: EvalResult, prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{k}": float(result.metrics[k]) for k in HEADLINE}


def caption(result: EvalResult, mask_history: bool) -> str:
    ks = list(result.protocol.ks)
    masked = ("history masked (train items at valid, train+valid at test)" if mask_history
              else "history items not masked (Recformer's own evaluation)")
    return (f"{result.split}: {result.n_users} users; leave-one-out; full ranking over all items by cosine; "
            f"{masked}; K in {ks}; ties ranked pessimistically")
