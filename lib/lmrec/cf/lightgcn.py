"""LightGCN (He et al., SIGIR'20, arXiv 2002.02126) as RLMRec/SSLRec run it.

Propagation ``E^(l+1) = A_hat E^(l)`` with ``A_hat = D^-1/2 A D^-1/2`` (eq. 7); final embedding the sum
of the layer outputs ``E = sum_l E^(l)`` (RLMRec sums; the paper's eq. 8 averages with alpha = 1/(L+1),
which only rescales scores). During training each adjacency entry is kept with probability
``keep_rate`` (SSLRec's edge dropout, no rescaling); evaluation uses the full graph.
Hyperparameters in ``BackboneConfig.extra``: ``keep_rate`` (default 1.0 = no dropout).
"""

from __future__ import annotations

import torch

from .backbone import Backbone, Batch, TrainOutput


class LightGCN(Backbone):
    name = "lightgcn"

    def _forward(self, ego: torch.Tensor, keep_rate: float) -> tuple[torch.Tensor, torch.Tensor]:
        adj = self.graph.adj().drop_edges(keep_rate)
        return self.graph.split(torch.stack(self.propagate_layers(adj, ego)).sum(0))

    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(self.ego() if ego is None else ego, 1.0)

    def train_forward(self, batch: Batch, ego: torch.Tensor) -> TrainOutput:
        return TrainOutput(*self._forward(ego, float(self.config.get("keep_rate", 1.0))))
