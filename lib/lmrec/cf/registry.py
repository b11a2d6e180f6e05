"""Name -> class of every backbone, and the builders the notebooks call."""

from __future__ import annotations

import importlib

import torch

from .alignment import ALIGNMENTS, ContrastiveAlignment, GenerativeAlignment, NoAlignment
from .backbone import Alignment, Backbone, BackboneConfig
from .graph import Graph

# name -> "module:Class" (imported lazily so a backbone module added later needs only this line)
BACKBONES: dict[str, str] = {
    "gccf": "lmrec.cf.gccf:GCCF",
    "lightgcn": "lmrec.cf.lightgcn:LightGCN",
    "sgl": "lmrec.cf.sgl:SGL",
    "simgcl": "lmrec.cf.simgcl:SimGCL",
    "dccf": "lmrec.cf.dccf:DCCF",
    "autocf": "lmrec.cf.autocf:AutoCF",
}

# name -> the notebook whose parameters cell holds the backbone's defaults (their one home; read by
# lmrec.cf.notebook.CFSpec.from_notebook)
NOTEBOOKS: dict[str, str] = {"gccf": "10_gccf", "lightgcn": "11_lightgcn", "sgl": "12_sgl", "simgcl": "13_simgcl",
                             "dccf": "14_dccf", "autocf": "15_autocf"}


def backbone_class(name: str) -> type[Backbone]:
    """The backbone class registered under ``name``."""
    if name not in BACKBONES:
        raise ValueError(f"BACKBONE={name!r} is unknown; choose one of {sorted(BACKBONES)}")
    module, cls = BACKBONES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_backbone(name: str, graph: Graph, config: BackboneConfig) -> Backbone:
    return backbone_class(name)(graph, config)


def build_alignment(name: str, backbone: Backbone, user_prof: torch.Tensor | None = None,
                    item_prof: torch.Tensor | None = None, kd_weight: float | None = None,
                    kd_temperature: float | None = None, mask_ratio: float | None = None,
                    recon_weight: float | None = None, re_temperature: float | None = None,
                    user_mask: torch.Tensor | None = None, item_mask: torch.Tensor | None = None) -> Alignment:
    """``none`` | ``con`` (RLMRec-Con) | ``gen`` (RLMRec-Gen), sized from the backbone's widths.

    ``con`` needs ``kd_weight`` and ``kd_temperature``, ``gen`` needs ``mask_ratio``, ``recon_weight`` and
    ``re_temperature``: they have no default here (each backbone's notebook holds its own). RLMRec-Con aligns
    negative items unless the backbone says otherwise (:attr:`Backbone.con_negatives`). ``user_mask`` /
    ``item_mask`` flag the nodes with a generated profile (the others are left out of the alignment loss)."""
    if name not in ALIGNMENTS:
        raise ValueError(f"ALIGNMENT={name!r} is unknown; choose one of {ALIGNMENTS}")
    if name == "none":
        return NoAlignment()
    if user_prof is None or item_prof is None:
        raise ValueError(f"ALIGNMENT={name!r} needs profile embeddings (PROFILE_SOURCE)")
    if user_prof.shape[0] != backbone.n_users or item_prof.shape[0] != backbone.n_items:
        raise ValueError(f"profile embeddings cover {user_prof.shape[0]} users / {item_prof.shape[0]} items, the "
                         f"graph has {backbone.n_users} / {backbone.n_items}: the profiles belong to another "
                         "dataset or split; regenerate them (notebook 02) for this DATASET/MIN_RATING")
    if name == "con":
        weights = _needed(name, kd_weight=kd_weight, kd_temperature=kd_temperature)
        return ContrastiveAlignment(user_prof, item_prof, backbone.out_dim, user_mask=user_mask, item_mask=item_mask,
                                    negatives=backbone.con_negatives, **weights)
    weights = _needed(name, mask_ratio=mask_ratio, recon_weight=recon_weight, re_temperature=re_temperature)
    return GenerativeAlignment(user_prof, item_prof, backbone.dim, backbone.out_dim, user_mask=user_mask,
                               item_mask=item_mask, **weights)


def _needed(alignment: str, **values: float | None) -> dict[str, float]:
    missing = [k.upper() for k, v in values.items() if v is None]
    if missing:
        raise ValueError(f"ALIGNMENT={alignment!r} needs {missing} (the backbone's notebook holds their defaults: "
                         "CFSpec.from_notebook)")
    return {k: float(v) for k, v in values.items()}
