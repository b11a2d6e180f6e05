"""What notebooks 10-15 call: one function (``train_backbone``) that builds backbone x alignment (aligned to the
``targets`` the caller passes: RLMRec's profile embeddings come from :func:`lmrec.rlmrec.embeddings.profile_targets`),
trains with the one trainer, evaluates and returns everything the notebook shows and records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..data import load_dataset
from ..defaults import notebook_defaults
from ..eval import Protocol
from ..llm.controls import SOURCE_LABELS
from .alignment import ALIGNMENTS, AlignmentTargets
from .backbone import BackboneConfig
from .graph import Graph
from .model import CFModel
from .registry import NOTEBOOKS, backbone_class, build_alignment, build_backbone
from .trainer import CFTrainConfig, CFTrainResult, train_cf

# notebook parameter -> CFSpec field, and -> CFTrainConfig field; a backbone's own parameters are its Params fields
SPEC_PARAMS = {"DATASET": "dataset", "SPLIT": "split", "MIN_RATING": "min_rating", "ALIGNMENT": "alignment",
               "PROFILE_SOURCE": "profile_source", "EMBED_DIM": "dim", "LAYERS": "layers", "REG_WEIGHT": "reg_weight",
               "KD_WEIGHT": "kd_weight", "KD_TEMPERATURE": "kd_temperature", "MASK_RATIO": "mask_ratio",
               "RECON_WEIGHT": "recon_weight", "RE_TEMPERATURE": "re_temperature", "GRAPH_BACKEND": "graph_backend",
               "KS": "ks", "RECALL_DENOMINATOR": "recall_denominator", "TABLE": "table", "SEED": "seed",
               "SPLIT_SEED": "split_seed"}
TRAIN_PARAMS = {"EPOCHS": "epochs", "BATCH_SIZE": "batch_size", "LR": "lr", "EVAL_EVERY": "eval_every",
                "PATIENCE": "patience", "TIME_LIMIT_S": "time_limit_s"}
RUN_PARAMS = ("DEVICE", "RUN_DIR")  # the run's own, not the model's
DISPLAY = {"gccf": "GCCF", "lightgcn": "LightGCN", "sgl": "SGL", "simgcl": "SimGCL", "dccf": "DCCF", "autocf": "AutoCF"}
ALIGN_SUFFIX = {"none": "", "con": "+Con", "gen": "+Gen"}


@dataclass
class CFSpec:
    """Everything one backbone x alignment run needs: its notebook's parameters, grouped. No field but ``extra``
    has a default here: every default lives once, in the backbone's notebook (``NOTEBOOKS``). Inside the notebook
    the spec comes from :meth:`from_params`; anywhere else from :meth:`from_notebook` (those defaults plus the
    values you change)."""

    backbone: str
    alignment: str
    dataset: str
    split: str
    min_rating: float
    profile_source: str      # where the alignment targets come from; read by the caller that builds them
    dim: int
    layers: int
    reg_weight: float
    kd_weight: float         # RLMRec-Con weight and temperature
    kd_temperature: float
    mask_ratio: float        # RLMRec-Gen masked share, weight and temperature
    recon_weight: float
    re_temperature: float
    graph_backend: str
    train: CFTrainConfig
    ks: tuple[int, ...]
    recall_denominator: str  # n_relevant (|T|, RLMRec) | min_k (min(K,|T|), CLLM4Rec)
    table: str               # the report table the run's row goes to
    seed: int                # initialisation, sampling, dropout, noise
    split_seed: int          # the random split's seed (-1: ``seed``)
    extra: dict[str, Any] = field(default_factory=dict)   # backbone-specific hyperparameters (its ``Params``)

    def __post_init__(self) -> None:
        if 20 not in self.ks:
            raise ValueError(f"KS={list(self.ks)} must include 20: the model is chosen on validation Recall@20")

    @classmethod
    def from_params(cls, backbone: str, params: Mapping[str, Any], progress: bool = True) -> CFSpec:
        """The spec of notebooks 10-15 from their parameters cell (``run.params``): shared names map through
        ``SPEC_PARAMS``/``TRAIN_PARAMS``, the backbone's own names are its ``Params`` fields in upper case
        (``KEEP_RATE`` -> ``keep_rate``), so each default is written once, in the notebook. A name none of
        these know is refused (it would otherwise be silently ignored)."""
        own = {f.name for f in fields(backbone_class(backbone).Params)}
        unknown = sorted(k for k in params if k not in SPEC_PARAMS and k not in TRAIN_PARAMS
                         and k not in RUN_PARAMS and k.lower() not in own)
        if unknown:
            raise ValueError(f"parameters {unknown} mean nothing to the {backbone} notebook; known: "
                             f"{sorted(SPEC_PARAMS) + sorted(TRAIN_PARAMS) + sorted(n.upper() for n in own)}")
        missing = sorted(k for k in (*SPEC_PARAMS, *TRAIN_PARAMS) if k not in params)
        if missing:
            raise ValueError(f"parameters {missing} are missing: from_params takes the {backbone} notebook's whole "
                             "parameter set (run.params); outside the notebook use CFSpec.from_notebook(backbone, "
                             "changes), which starts from the notebook's defaults")
        spec = {SPEC_PARAMS[k]: v for k, v in params.items() if k in SPEC_PARAMS}
        if "ks" in spec:
            spec["ks"] = tuple(spec["ks"])
        train = {TRAIN_PARAMS[k]: v for k, v in params.items() if k in TRAIN_PARAMS}
        train["time_limit_s"] = train.get("time_limit_s") or None  # 0: no budget
        extra = {k.lower(): v for k, v in params.items() if k.lower() in own}
        return cls(backbone=backbone, extra=extra, train=CFTrainConfig(**train, progress=progress), **spec)

    @classmethod
    def from_notebook(cls, backbone: str, changes: Mapping[str, Any] | None = None, progress: bool = True) -> CFSpec:
        """The spec the backbone's notebook runs (its parameters cell, the one home of its defaults) with
        ``changes`` (notebook names, e.g. ``{"EMBED_DIM": 64, "EPOCHS": 30}``) applied: how bench scripts,
        tests and other notebooks train a backbone without restating a default."""
        if backbone not in NOTEBOOKS:
            raise ValueError(f"BACKBONE={backbone!r} has no notebook in lmrec.cf.registry.NOTEBOOKS; "
                             f"known: {sorted(NOTEBOOKS)}")
        return cls.from_params(backbone, notebook_defaults(NOTEBOOKS[backbone]) | dict(changes or {}), progress)

    @property
    def row(self) -> str:
        """The RLMRec table row: ``LightGCN`` / ``LightGCN+Con`` / ``LightGCN+Gen``; aligned to a control of the LLM
        profiles (``PROFILE_SOURCE`` raw / shuffled, :mod:`lmrec.llm.controls`), e.g. ``LightGCN+Con (raw text)``."""
        control = SOURCE_LABELS.get(self.profile_source, "") if self.alignment != "none" else ""
        return DISPLAY.get(self.backbone, self.backbone) + ALIGN_SUFFIX[self.alignment] + control


@dataclass
class TrainedBackbone:
    """What :func:`train_backbone` returns: the spec, data, trained model, its training result and protocol."""

    spec: CFSpec
    dataset: Any
    model: CFModel
    result: CFTrainResult
    protocol: Protocol
    targets: AlignmentTargets | None = None

    def metrics(self) -> dict[str, float]:
        """Test recall/ndcg at every K (the report's columns), plus the validation score that chose the model."""
        out = {k: v for k, v in self.result.test.metrics.items() if k.startswith(("recall@", "ndcg@"))}
        out["valid_recall@20"] = self.result.valid.metrics.get("recall@20", float("nan"))
        return out

    def table(self) -> pd.DataFrame:
        rows = {"valid": self.result.valid.metrics, "test": self.result.test.metrics}
        cols = [f"{m}@{k}" for m in ("recall", "ndcg") for k in self.protocol.ks]
        return pd.DataFrame(rows).T[cols].round(4)

    def targets_caption(self) -> str:
        """What the alignment aligned to, as its targets say ("" without alignment)."""
        return self.targets.caption if self.targets is not None and self.spec.alignment != "none" else ""

    def caption(self) -> str:
        capped = {"capped": " (capped by TIME_LIMIT_S: not converged)",
                  "epoch_limit": " (capped by EPOCHS: not converged)"}.get(self.result.status, "")
        cov = self.targets_caption()
        return (f"{self.spec.row} on {self.dataset.name} ({self.spec.split} split); best epoch "
                f"{self.result.best_epoch} of {self.result.epochs_run}{capped} by valid Recall@20; "
                f"{self.result.test.caption()}" + (f"; {cov}" if cov else ""))


def load_cf_data(spec: CFSpec):
    """The dataset of a spec (``ml100k`` or ``<format>:<folder>``, a relative folder from the repo root)."""
    split_seed = spec.seed if spec.split_seed < 0 else spec.split_seed
    return load_dataset(spec.dataset, spec.split, seed=split_seed, min_rating=spec.min_rating)


def build_model(spec: CFSpec, dataset, device: torch.device | str = "cpu",
                targets: AlignmentTargets | None = None) -> CFModel:
    """Graph, backbone, alignment (to ``targets``, which every alignment but ``none`` needs), on ``device``."""
    if spec.alignment not in ALIGNMENTS:
        raise ValueError(f"ALIGNMENT={spec.alignment!r} is unknown; choose one of {ALIGNMENTS}")
    graph = Graph(dataset.train, device=device, backend=spec.graph_backend)
    backbone = build_backbone(spec.backbone, graph, BackboneConfig(spec.dim, spec.layers, dict(spec.extra)))
    user = item = user_mask = item_mask = None
    if spec.alignment != "none":
        if targets is None:
            raise ValueError(f"ALIGNMENT={spec.alignment!r} needs alignment targets: pass targets= (RLMRec's "
                             "profile embeddings: lmrec.rlmrec.embeddings.profile_targets(spec, dataset))")
        user, item, user_mask, item_mask = targets.user, targets.item, targets.user_mask, targets.item_mask
    alignment = build_alignment(spec.alignment, backbone, user, item, spec.kd_weight, spec.kd_temperature,
                                spec.mask_ratio, spec.recon_weight, spec.re_temperature, user_mask, item_mask)
    return CFModel(backbone, alignment, spec.reg_weight).to(device)


def train_backbone(spec: CFSpec, device: torch.device | str = "cpu", dataset=None,
                   checkpoint_dir: str | Path | None = None, targets: AlignmentTargets | None = None) -> TrainedBackbone:
    """Load, build, train (early stopping on validation Recall@20), restore the best state, test once.
    With ``checkpoint_dir`` (a notebook's run folder) training checkpoints there and a re-run resumes;
    ``targets``: what the alignment aligns to (see :func:`build_model`)."""
    dataset = dataset if dataset is not None else load_cf_data(spec)
    torch.manual_seed(spec.seed)
    model = build_model(spec, dataset, device, targets)
    protocol = Protocol(ks=tuple(spec.ks), recall_denominator=spec.recall_denominator)
    result = train_cf(model, dataset, spec.train, protocol, device, checkpoint_dir=checkpoint_dir)
    return TrainedBackbone(spec, dataset, model, result, protocol, targets)
