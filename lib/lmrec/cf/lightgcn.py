"""LightGCN (He et al., SIGIR'20, arXiv 2002.02126) as RLMRec/SSLRec run it.

Propagation ``E^(l+1) = A_hat E^(l)`` with ``A_hat = D^-1/2 A D^-1/2`` (eq. 7); final embedding the sum
of the layer outputs ``E = sum_l E^(l)`` (RLMRec sums; the paper's eq. 8 averages with alpha = 1/(L+1),
which only rescales scores). During training each edge is kept with probability ``keep_rate`` (SSLRec's
edge dropout, no rescaling); evaluation uses the full graph.

RLMRec difference: SSLRec's dropout keeps or drops each entry of the normalised adjacency on its own (the
two directions of an edge independently); ``edge_drop="edges"`` (default) drops both directions of an edge
together so the graph stays symmetric (SGL's paper), ``edge_drop="entries"`` reproduces RLMRec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .backbone import Backbone, BackboneParams, Batch, TrainOutput
from .graph import EDGE_DROP


@dataclass(frozen=True)
class LightGCNParams(BackboneParams):
    """``keep_rate``: training edge-dropout keep probability (1.0 keeps every edge; RLMRec 0.8);
    ``edge_drop``: ``edges`` (both directions together) | ``entries`` (RLMRec/SSLRec: each adjacency entry)."""

    keep_rate: float = 0.8
    edge_drop: str = field(default="edges", metadata={"choices": EDGE_DROP})

    def __post_init__(self) -> None:
        if not 0.0 < self.keep_rate <= 1.0:
            raise ValueError(f"keep_rate={self.keep_rate} must lie in (0, 1]")


class LightGCN(Backbone):
    name = "lightgcn"
    Params = LightGCNParams

    def _forward(self, ego: torch.Tensor, keep_rate: float) -> tuple[torch.Tensor, torch.Tensor]:
        adj = self.graph.adj()
        if keep_rate < 1.0:
            adj = adj.drop_edges(keep_rate, unit=self.params.edge_drop)
        return self.graph.split(torch.stack(self.propagate_layers(adj, ego)).sum(0))

    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(self.ego() if ego is None else ego, 1.0)

    def train_forward(self, batch: Batch, ego: torch.Tensor) -> TrainOutput:
        return TrainOutput(*self._forward(ego, self.params.keep_rate))
