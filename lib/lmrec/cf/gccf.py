"""LR-GCCF (Chen et al., AAAI'20, arXiv 2001.10167) as RLMRec/SSLRec run it.

Linear propagation on the graph with self-loops ``E^(l+1) = D^-1/2 (A + I) D^-1/2 E^(l)`` (the paper's
eq. 5 without the layer weight: SSLRec drops ``W`` since it "performs better without"), final embedding
the concatenation ``[E^(0) || E^(1) || ... || E^(L)]`` (eq. 7), so ``out_dim = (L + 1) * dim``.

RLMRec difference: its data handler adds self-loops only when the model is the plain ``gccf``; its
``gccf_plus`` (+Con) and ``gccf_gene`` (+Gen) propagate on the graph *without* self-loops. We follow the
paper: self-loops in every variant (``self_loops=True``). ``self_loops=False`` reproduces RLMRec's
+Con/+Gen graph (``params/rlmrec_*`` set it on those rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .backbone import Backbone, BackboneParams


@dataclass(frozen=True)
class GCCFParams(BackboneParams):
    """``self_loops``: propagate on ``A + I`` (paper; RLMRec's plain GCCF) or on ``A`` (RLMRec's +Con/+Gen)."""

    self_loops: bool = True


class GCCF(Backbone):
    name = "gccf"
    Params = GCCFParams

    @property
    def out_dim(self) -> int:
        return (self.layers + 1) * self.dim

    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ego = self.ego() if ego is None else ego
        layers = self.propagate_layers(self.graph.adj(self_loops=self.params.self_loops), ego)
        return self.graph.split(torch.cat(layers, dim=-1))
