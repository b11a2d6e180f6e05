"""What notebooks 20 and 21 call: the augmentation stage end to end (saved to one folder) and the
recommender variants (full model, README ablations, base model) built from that folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cf import BackboneConfig, CFModel, Graph, NoAlignment
from ..llm.chat import GenParams, LocalChat, make_backend, response_cache
from ..llm.embed import EmbedConfig, embed_texts
from ..paths import hand_on, pointer_path, stage_dir, take_over
from ..utils import atomic_path, write_json
from .augment import (
    attribute_schema,
    augment_attributes,
    augment_pairs,
    augment_profiles,
    base_candidates,
    pair_quality,
    profile_schema,
)
from .choice import LabelScoreChat
from .model import LLMRecBackbone, LLMRecConfig, prune_settings
from .parsing import ATTRIBUTE_FIELDS
from .prompts import profile_text

# README switches of LLMRec (python main.py ...) -> changes to the full model
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "wo_ui": {"aug_sample_rate": 0.0},                        # --aug_sample_rate=0.0
    "wo_u": {"weights": {"profile": 0.0}},                    # --user_cat_rate=0
    "wo_u_i": {"weights": {"profile": 0.0, "attribute": 0.0}},  # --user_cat_rate=0 --item_cat_rate=0
    "wo_prune": {"drop_rate": 0.0},                           # --prune_loss_drop_rate=0
    "wo_recon": {"recon_weight": 0.0},                        # no masked feature reconstruction
    "prune_low": prune_settings("low_warmup"),                # paper's end: keep the lowest-loss 90 %, warm-up
    "prune_released": prune_settings("released"),             # released code's end: keep the highest-loss 29 %
    "base": None,                                             # LightGCN, no side features, no augmentation
}
ROW_NAMES = {"full": "LLMRec", "wo_ui": "LLMRec w/o-u-i", "wo_u": "LLMRec w/o-u", "wo_u_i": "LLMRec w/o-u&i",
             "wo_prune": "LLMRec w/o-prune", "wo_recon": "LLMRec w/o-recon",
             "prune_low": "LLMRec (pruning: keep lowest-loss 90 %, warm-up)",
             "prune_released": "LLMRec (pruning: keep highest-loss 29 %, released)", "base": "LightGCN (no augmentation)"}


def augmentation_dir(params: dict) -> Path:
    """Where notebook 20 writes one augmentation: a folder keyed by every parameter of the run (data, base
    model, prompts, LLM backend and model, embedder; :func:`lmrec.paths.stage_dir`), so runs that differ in
    any of them never share a folder."""
    return stage_dir("llmrec", "augment", {k: v for k, v in params.items() if k != "RUN_DIR"})


def _current_pointer(dataset: str, split: str, min_rating: float, seed: int) -> Path:
    return pointer_path("llmrec", "augment", dataset, split, f"r{min_rating:g}", f"s{seed}")


def set_current_augmentation(dataset: str, split: str, min_rating: float, seed: int, folder: Path,
                             params: dict | None = None, run_dir: Path | None = None) -> Path:
    """Hand ``folder`` on as the data's ``current`` augmentation (what notebook 21 reads by default), with the
    parameters of the notebook-20 run that wrote it (:func:`lmrec.paths.hand_on`); 20 calls it only after a
    successful run."""
    return hand_on(_current_pointer(dataset, split, min_rating, seed), folder, "20_llmrec_augment", params or {},
                   run_dir)


def find_augmentation(choice: str, dataset: str, split: str, min_rating: float, seed: int) -> Path:
    """Notebook 21's ``AUGMENTATION``: ``current`` (the last successful notebook-20 run on this data) or a
    folder written by notebook 20 (or its run folder); one whose recorded data differs is refused, naming the values."""
    return take_over(choice, _current_pointer(dataset, split, min_rating, seed),
                     f"no LLMRec augmentation for DATASET={dataset!r}, SPLIT={split!r}, MIN_RATING={min_rating}, "
                     f"SEED={seed}; run notebooks/20_llmrec_augment first, or set AUGMENTATION to a folder it wrote",
                     requested={"DATASET": dataset, "SPLIT": split, "MIN_RATING": min_rating, "SEED": seed}).product


@dataclass
class AugmentSpec:
    """Augmentation settings (notebook 20's parameters, grouped)."""

    n_candidates: int = 10
    max_history: int = 10
    pair_method: str = "logits"        # logits (label probabilities) | generate (free text, strict parse)
    pair_orders: int = 5               # rotations of the canonical candidate order shown per user (0: all k)
    pair_calibration_users: int = 32   # users shown all k rotations; their mean per position is the prior
    aug_users: int = 0                 # users asked for pairs (0 = all)
    profile_users: int = 0             # users profiled (0 = all)
    attribute_items: int = 0           # items completed (0 = all)
    retries: int = 2
    retry_temperature: float = 0.7
    max_new_tokens_pair: int = 8
    max_new_tokens_profile: int = 128
    max_new_tokens_attribute: int = 48
    llm_backend: str = "local"         # local | openai
    llm_model: str = "smollm2-135m-instruct"  # or tiny-random (tests) / any HF folder / an endpoint's model
    llm_batch_size: int = 32
    llm_dtype: str = "float32"         # local: float32 (same answers on every CPU) | auto (bf16 where native) | bfloat16
    llm_engine: str = "transformers"   # local: transformers | ctranslate2 (no schema constraint: parsed and retried)
    constrain: bool = True             # decode profiles and attributes under their JSON schema (lmrec.llm.constrain)
    embed_model: str = "all-minilm-l6-v2"
    seed: int = 2023

    def __post_init__(self) -> None:
        if self.pair_method not in ("logits", "generate"):
            raise ValueError(f"PAIR_METHOD={self.pair_method!r}; use 'logits' or 'generate'")
        if not 0 <= self.pair_orders <= self.n_candidates:
            raise ValueError(f"PAIR_ORDERS={self.pair_orders}: use 1..N_CANDIDATES ({self.n_candidates}), or 0 for all")
        if self.pair_calibration_users < 0:
            raise ValueError(f"PAIR_CALIBRATION_USERS={self.pair_calibration_users} must be >= 0")
        if self.pair_method == "logits" and self.llm_backend != "local":
            raise ValueError("PAIR_METHOD='logits' needs the local backend (it reads token probabilities); use "
                             "PAIR_METHOD='generate' with LLM_BACKEND='openai'")


def make_chat(spec: AugmentSpec, device: str = "cpu"):
    """The chat backend of a spec (``tiny-random``: a random tiny Llama with SmolLM2's tokenizer, for smoke runs)."""
    if spec.llm_backend == "local" and spec.llm_model == "tiny-random":
        from ..llm.hf import tiny_random_causal_lm

        lm, tok = tiny_random_causal_lm(seed=spec.seed)
        return LocalChat("tiny-random", model_obj=lm, tokenizer=tok, batch_size=spec.llm_batch_size)
    from ..llm.chat import ChatConfig

    return make_backend(ChatConfig(backend=spec.llm_backend, model=spec.llm_model, device=device,
                                   batch_size=spec.llm_batch_size, dtype=spec.llm_dtype, engine=spec.llm_engine))


def _subset(n: int, k: int, seed: int) -> np.ndarray:
    """All ids when ``k <= 0`` or ``k >= n``; else a seeded random sorted subset of ``k`` ids."""
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


@dataclass
class Augmentation:
    """Everything the recommender reads, plus the accounting notebook 20 shows."""

    aug_pos: np.ndarray
    aug_neg: np.ndarray
    candidates: np.ndarray
    pair_users: np.ndarray
    profiles: dict[int, dict[str, str]]
    attributes: dict[int, dict[str, str]]
    embeddings: dict[str, np.ndarray]        # user_profile, item_text, item_director, item_country, item_language
    summary: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[dict]] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)


def generate_augmentation(dataset, spec: AugmentSpec, score_fn, chat=None, progress: bool = True) -> Augmentation:
    """Candidates from ``score_fn`` (base model), the three LLM stages, and the text embeddings."""
    chat = chat if chat is not None else make_chat(spec)
    cache = response_cache()
    summary: dict[str, float] = {}
    failures: dict[str, list[dict]] = {}
    examples: dict[str, list[str]] = {}
    # 1) implicit feedback
    users = _subset(dataset.n_users, spec.aug_users, spec.seed)
    cands = base_candidates(score_fn, dataset.train, spec.n_candidates, users)
    logits = spec.pair_method == "logits"
    pair_backend = LabelScoreChat(chat, [str(j) for j in range(spec.n_candidates)]) if logits else chat
    gen = GenParams(max_new_tokens=spec.max_new_tokens_pair)
    pairs = augment_pairs(pair_backend, dataset, cands, users, gen, spec.max_history, 0 if logits else spec.retries,
                          cache, progress, n_orders=spec.pair_orders or spec.n_candidates,
                          calibration_users=spec.pair_calibration_users,
                          answer="scores" if logits else "pair")
    pos, neg, run, prompts = pairs.pos, pairs.neg, pairs.run, pairs.prompts
    summary.update(pairs.summary("pairs_"))
    failures["pairs"], examples["pairs"] = run.failures, [f"{prompts[0].text}\n--> {run.raw[0]}"] if prompts else []
    for name, held in (("test", dataset.test), ("heldout", dataset.matrix(("valid", "test")))):
        quality = pair_quality(pos, neg, cands, users, held)
        summary.update({f"pairs_{name}_{k.replace('heldout', name)}": v for k, v in quality.items()})
    # 2) user profiles
    p_users = _subset(dataset.n_users, spec.profile_users, spec.seed + 1)
    gen = GenParams(max_new_tokens=spec.max_new_tokens_profile, json_schema=profile_schema(max_new_tokens=spec.max_new_tokens_profile) if spec.constrain else None)
    prof = augment_profiles(chat, dataset, p_users, gen, spec.max_history, spec.retries, cache, progress)
    summary.update(prof.summary("profiles_"))
    failures["profiles"], examples["profiles"] = prof.failures, prof.raw[:3]
    profiles = {int(u): v for u, v in zip(p_users, prof.values) if v is not None}
    # 3) item attributes
    items = _subset(dataset.n_items, spec.attribute_items, spec.seed + 2)
    gen = GenParams(max_new_tokens=spec.max_new_tokens_attribute,
                    json_schema=attribute_schema(max_new_tokens=spec.max_new_tokens_attribute)
                    if spec.constrain else None)
    attr = augment_attributes(chat, dataset, items, gen, spec.retries, cache, progress)
    summary.update(attr.summary("attributes_"))
    failures["attributes"], examples["attributes"] = attr.failures, attr.raw[:3]
    attributes = {int(i): v for i, v in zip(items, attr.values) if v is not None}
    cache.close()
    # 4) embeddings (rows without an augmentation stay zero: no feature)
    ecfg = EmbedConfig(model=spec.embed_model)
    emb = {"item_text": embed_texts(dataset.item_texts(), ecfg)}
    dim = emb["item_text"].shape[1]
    emb["user_profile"] = _embed_rows(dataset.n_users, {u: profile_text(p) for u, p in profiles.items()}, ecfg, dim)
    for f in ATTRIBUTE_FIELDS:
        emb[f"item_{f}"] = _embed_rows(dataset.n_items, {i: f"{f}: {a[f]}" for i, a in attributes.items()}, ecfg, dim)
    summary.update({"users_with_pair": float((pos >= 0).sum()), "users_with_profile": float(len(profiles)),
                    "items_with_attributes": float(len(attributes))})
    return Augmentation(pos, neg, cands, users, profiles, attributes, emb, summary, failures, examples, asdict(spec))


def _embed_rows(n: int, texts: dict[int, str], cfg: EmbedConfig, dim: int) -> np.ndarray:
    out = np.zeros((n, dim), dtype=np.float32)
    if texts:
        ids = sorted(texts)
        out[ids] = embed_texts([texts[i] for i in ids], cfg)
    return out


def save_augmentation(aug: Augmentation, folder: Path) -> Path:
    """Write arrays (``arrays.npz``), texts and accounting (``augmentation.json``) atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "arrays.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, aug_pos=aug.aug_pos, aug_neg=aug.aug_neg, candidates=aug.candidates,
                     pair_users=aug.pair_users, **{f"emb_{k}": v for k, v in aug.embeddings.items()})
    write_json(folder / "augmentation.json", {
        "spec": aug.spec, "summary": aug.summary, "failures": aug.failures, "examples": aug.examples,
        "profiles": {str(k): v for k, v in aug.profiles.items()},
        "attributes": {str(k): v for k, v in aug.attributes.items()}})
    return folder


def load_augmentation(folder: Path) -> Augmentation:
    """Read what :func:`save_augmentation` wrote; a clear error when notebook 20 has not run."""
    folder = Path(folder)
    if not (folder / "arrays.npz").exists() or not (folder / "augmentation.json").exists():
        raise FileNotFoundError(f"{folder}: no LLMRec augmentation (arrays.npz + augmentation.json); run notebook "
                                "20_llmrec_augment with the same DATASET/SPLIT/MIN_RATING/SEED first")
    arr = np.load(folder / "arrays.npz")
    meta = json.loads((folder / "augmentation.json").read_text())
    emb = {k[4:]: arr[k] for k in arr.files if k.startswith("emb_")}
    return Augmentation(arr["aug_pos"], arr["aug_neg"], arr["candidates"], arr["pair_users"],
                        {int(k): v for k, v in meta["profiles"].items()},
                        {int(k): v for k, v in meta["attributes"].items()}, emb, meta["summary"],
                        meta["failures"], meta["examples"], meta["spec"])


def variant_config(variant: str, base: LLMRecConfig) -> LLMRecConfig | None:
    """The :class:`LLMRecConfig` of a variant (``None`` for the plain base model)."""
    if variant not in VARIANTS:
        raise ValueError(f"VARIANT={variant!r}; choose one of {list(VARIANTS)}")
    change = VARIANTS[variant]
    if change is None:
        return None
    cfg = asdict(base)
    for k, v in change.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) else v
    return LLMRecConfig(**cfg)


def build_variant(variant: str, dataset, aug: Augmentation | None, base: LLMRecConfig, dim: int, layers: int,
                  reg_weight: float, device: torch.device | str = "cpu") -> CFModel:
    """The CF model of a variant: LLMRec backbone with the augmentation's features and pairs, or plain."""
    graph = Graph(dataset.train, device=device)
    cfg = variant_config(variant, base)
    bcfg = BackboneConfig(dim=dim, layers=layers)
    if cfg is None:
        backbone = LLMRecBackbone(graph, bcfg, LLMRecConfig(aug_sample_rate=0.0, drop_rate=0.0, recon_weight=0.0))
    else:
        if aug is None:
            raise ValueError(f"VARIANT={variant!r} needs the augmentation of notebook 20")
        emb = aug.embeddings
        item_feats = {"text": emb["item_text"], **{f: emb[f"item_{f}"] for f in ATTRIBUTE_FIELDS}}
        families = {"text": "text", **{f: "attribute" for f in ATTRIBUTE_FIELDS}}
        backbone = LLMRecBackbone(graph, bcfg, cfg, user_feats={"profile": emb["user_profile"]},
                                  item_feats=item_feats, item_families=families,
                                  aug_pairs=(aug.aug_pos, aug.aug_neg))
    return CFModel(backbone, NoAlignment(), reg_weight).to(device)


def coverage_caption(aug: Augmentation | None, n_users: int, n_items: int) -> str:
    """What the augmentation covers, for the table caption (empty for the base model)."""
    if aug is None:
        return ""
    sm = aug.summary
    prof, asked = int(sm.get("users_with_profile", len(aug.profiles))), int(sm.get("profiles_n", 0))
    attr = int(sm.get("items_with_attributes", len(aug.attributes)))
    pairs = int(sm.get("users_with_pair", int((np.asarray(aug.aug_pos) >= 0).sum())))
    return (f"LLM profiles for {prof} of {n_users} users ({prof / max(1, n_users):.0%}; {asked} asked, "
            f"{asked - prof} failed; users without one have no profile feature), attributes for {attr} of "
            f"{n_items} items, LLM pairs for {pairs} users")
