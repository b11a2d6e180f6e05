"""The backbone interface: what every graph CF model provides to the one trainer and to the alignments.

How a training step runs (:mod:`lmrec.cf.trainer`), for any backbone x any alignment::

    ego = backbone.ego()                          # [n_users + n_items, dim] layer-0 embeddings (users first)
    ego, state = alignment.prepare(ego)           # RLMRec-Gen masks nodes here; others return ego unchanged
    out = backbone.train_forward(batch, ego)      # TrainOutput: main-view user/item embeddings + extra losses
    loss = backbone.rec_loss(out, batch)          # BPR(out.users[b.users], out.items[b.pos], out.items[b.neg])
         + sum(out.losses.values())               # the backbone's own SSL terms, already weighted
         + sum(alignment.loss(out, batch, state).values())   # RLMRec-Con / -Gen terms, already weighted
         + reg_weight * l2(all parameters of backbone and alignment)

At evaluation the trainer calls ``backbone.encode()`` (no augmentation, no masking) once and scores
users against all items with an inner product (override :meth:`Backbone.score` to change that).

Adding a backbone
-----------------
1. Subclass :class:`Backbone` in ``lmrec/cf/<name>.py`` with ``name = "<name>"``. ``__init__(graph, config)``
   receives the :class:`~lmrec.cf.graph.Graph` (training edges, ``graph.adj(self_loops)`` normalised
   adjacency with ``@`` propagation, ``graph.split``) and a :class:`BackboneConfig` (``dim``, ``layers``
   and an ``extra`` dict for model-specific hyperparameters). Declare those hyperparameters as a frozen
   dataclass subclassing :class:`BackboneParams` (one field per name, each with its one default) and set
   ``Params = <that class>``. Call ``super().__init__(graph, config)``: it validates ``extra`` into
   ``self.params`` (an unknown name is an error naming the valid ones) and creates the
   ``user_emb``/``item_emb`` tables (Xavier-uniform, as RLMRec/SSLRec).
2. Implement :meth:`Backbone.encode` ``(ego) -> (users, items)``: the clean forward pass from given
   layer-0 embeddings. It must use ``ego`` (not the tables directly) so that RLMRec-Gen's masked nodes
   propagate. If the final embeddings are not ``dim`` wide (GCCF concatenates layers), set
   :attr:`Backbone.out_dim`; alignment heads size their MLPs from it.
3. Override :meth:`Backbone.train_forward` when training differs from ``encode``: edge dropout, extra
   views and their contrastive terms (return them in ``TrainOutput.losses`` with their weights applied,
   e.g. ``{"cl": cl_weight * info_nce(...)}``). ``out.users``/``out.items`` must be the view that BPR
   and the alignments use (for SGL/SimGCL the clean view, as in RLMRec).
4. Optional hooks: :meth:`Backbone.on_epoch_start` (e.g. AutoCF re-samples its masked subgraph every
   ``epoch_period`` epochs), :meth:`Backbone.on_step_start` (per-batch), :meth:`Backbone.score`.
5. Register it in ``lmrec/cf/registry.py`` (``BACKBONES``) so ``build_backbone("<name>", ...)`` and the
   notebooks find it, and add a notebook ``NN_<name>`` that calls :func:`lmrec.cf.notebook.train_backbone`, and add
   its notebook's name to ``NOTEBOOKS`` in ``lmrec/cf/notebook.py`` (its defaults live in that parameters cell).

Everything random must draw from torch's global RNG on the device (seeded by the run), never NumPy, so
runs are reproducible and no host work happens per batch.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from .graph import Graph
from .losses import bpr_loss


@dataclass
class BackboneConfig:
    """Hyperparameters every backbone has, plus ``extra`` for model-specific ones (``keep_rate``,
    ``cl_weight``, ``temperature``, ``eps`` ...): each backbone's :class:`BackboneParams` subclass lists the
    names it reads and their defaults, and rejects any other name."""

    dim: int      # no defaults: each backbone's notebook holds them (EMBED_DIM, LAYERS)
    layers: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneParams:
    """A backbone's model-specific hyperparameters: one field per name, each with its single default.

    Built from ``BackboneConfig.extra`` (:meth:`from_extra`, lower-case names) or from a notebook's
    parameters (:meth:`from_params`, the same names upper-case: ``KEEP_RATE`` -> ``keep_rate``). Values are
    checked against the field types (``int``/``float``/``bool``/``str``); a ``str`` field may list its
    allowed values in ``field(metadata={"choices": (...)})``."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], backbone: str = "") -> BackboneParams:
        """Validated parameters from an ``extra`` dict; unknown names and ill-typed values are errors."""
        who = backbone or cls.__name__
        unknown = sorted(set(extra) - set(cls.names()))
        if unknown:
            raise ValueError(f"{who}: unknown hyperparameter(s) {unknown} in the backbone's extra dict; {who} reads "
                             f"{list(cls.names()) or 'none'} (notebook parameters: the same names upper-case)")
        hints = typing.get_type_hints(cls)
        values = {}
        for f in fields(cls):
            if f.name in extra:
                values[f.name] = _coerce(who, f.name, extra[f.name], hints[f.name], f.metadata.get("choices"))
        return cls(**values)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], backbone: str = "") -> BackboneParams:
        """Parameters from notebook-style names (``globals()`` of a notebook): ``NAME`` -> field ``name``;
        names that are not fields of this class are ignored (they belong to other parts of the run)."""
        wanted = {n.upper(): n for n in cls.names()}
        return cls.from_extra({wanted[k]: v for k, v in params.items() if k in wanted}, backbone)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(who: str, name: str, value: Any, kind: Any, choices: tuple | None) -> Any:
    bad = ValueError(f"{who}: hyperparameter {name}={value!r} must be {getattr(kind, '__name__', kind)}"
                     + (f", one of {list(choices)}" if choices else ""))
    if kind is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise bad
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if kind is str:
        if not isinstance(value, str) or (choices and value not in choices):
            raise bad
        return value
    return value


@dataclass
class Batch:
    """One training batch of (user, positive item, sampled negative item) triples, all on the device."""

    users: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor
    epoch: int = 0
    step: int = 0

    def __len__(self) -> int:
        return int(self.users.numel())


@dataclass
class TrainOutput:
    """What :meth:`Backbone.train_forward` returns: the full user/item embedding matrices of the view BPR
    and the alignments use, and the backbone's own extra losses (weighted; summed into the total)."""

    users: torch.Tensor
    items: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


class Backbone(nn.Module):
    """Base class of graph CF backbones (LightGCN, GCCF, SGL, SimGCL, DCCF, AutoCF)."""

    name: ClassVar[str] = "backbone"
    Params: ClassVar[type[BackboneParams]] = BackboneParams  # the names ``config.extra`` may hold

    def __init__(self, graph: Graph, config: BackboneConfig) -> None:
        super().__init__()
        self.graph = graph
        self.config = config
        self.params = self.Params.from_extra(config.extra, self.name)
        self.n_users, self.n_items = graph.n_users, graph.n_items
        self.dim = int(config.dim)
        self.layers = int(config.layers)
        self.user_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_users, self.dim)))
        self.item_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_items, self.dim)))

    @property
    def out_dim(self) -> int:
        """Width of the final user/item embeddings (``dim`` unless the backbone concatenates layers)."""
        return self.dim

    @property
    def con_negatives(self) -> bool:
        """Whether RLMRec-Con aligns the batch's sampled negative items too (True unless the backbone's
        parameters say otherwise: AutoCF's ``con_negatives``)."""
        return bool(getattr(self.params, "con_negatives", True))

    def ego(self) -> torch.Tensor:
        """Layer-0 node embeddings ``[n_users + n_items, dim]``, users first."""
        return torch.cat([self.user_emb, self.item_emb], dim=0)

    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean forward pass (no augmentation): ``(users [n_users, out_dim], items [n_items, out_dim])``."""
        raise NotImplementedError(f"{type(self).__name__} must implement encode(ego)")

    def train_forward(self, batch: Batch, ego: torch.Tensor) -> TrainOutput:
        """Training forward pass; the default is :meth:`encode` with no extra loss."""
        users, items = self.encode(ego)
        return TrainOutput(users, items)

    rec_loss_name: ClassVar[str] = "bpr"

    def rec_loss(self, out: TrainOutput, batch: Batch) -> torch.Tensor:
        """The main ranking loss (logged as :attr:`rec_loss_name`): BPR on ``out`` by default; a backbone
        with another objective (AutoCF reconstructs observed pairs without negatives) overrides it."""
        return bpr_loss(out.users[batch.users], out.items[batch.pos], out.items[batch.neg])

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the trainer before each epoch (0-based)."""

    def on_step_start(self, batch: Batch) -> None:
        """Called by the trainer before each batch."""

    @torch.no_grad()
    def score(self, users: torch.Tensor, user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, n_items]`` of users against all items from precomputed ``encode()`` output."""
        return user_emb[users] @ item_emb.T

    def propagate_layers(self, adj, ego: torch.Tensor) -> list[torch.Tensor]:
        """``[E0, A E0, A^2 E0, ...]`` with ``self.layers`` products: the shared core of graph backbones."""
        out = [ego]
        for _ in range(self.layers):
            out.append(adj @ out[-1])
        return out


class Alignment(nn.Module):
    """Base class of RLMRec's alignments (and the no-op): a hook before and a loss after the forward pass."""

    name: ClassVar[str] = "none"

    def prepare(self, ego: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Transform the layer-0 embeddings before propagation; returns (ego, state for :meth:`loss`)."""
        return ego, None

    def loss(self, out: TrainOutput, batch: Batch, state: Any) -> dict[str, torch.Tensor]:
        """Weighted alignment losses for this batch (empty for no alignment)."""
        return {}
