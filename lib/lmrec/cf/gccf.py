"""LR-GCCF (Chen et al., AAAI'20, arXiv 2001.10167) as RLMRec/SSLRec run it.

Linear propagation on the graph with self-loops ``E^(l+1) = D^-1/2 (A + I) D^-1/2 E^(l)`` (the paper's
eq. 5 without the layer weight: SSLRec drops ``W`` since it "performs better without"), final embedding
the concatenation ``[E^(0) || E^(1) || ... || E^(L)]`` (eq. 7), so ``out_dim = (L + 1) * dim``.

RLMRec quirk: its data handler adds self-loops only when the model is the plain ``gccf``; its
``gccf_plus`` (+Con) and ``gccf_gene`` (+Gen) propagate on the graph *without* self-loops. We follow the
paper: self-loops in every variant (``self_loops=True``). ``self_loops=False`` reproduces RLMRec's
+Con/+Gen graph.
"""

from __future__ import annotations

import torch

from .backbone import Backbone, BackboneConfig
from .graph import Graph


class GCCF(Backbone):
    name = "gccf"

    def __init__(self, graph: Graph, config: BackboneConfig) -> None:
        super().__init__(graph, config)
        self.self_loops = bool(config.get("self_loops", True))

    @property
    def out_dim(self) -> int:
        return (self.layers + 1) * self.dim

    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ego = self.ego() if ego is None else ego
        layers = self.propagate_layers(self.graph.adj(self_loops=self.self_loops), ego)
        return self.graph.split(torch.cat(layers, dim=-1))
