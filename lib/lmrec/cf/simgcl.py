"""SimGCL (Yu et al., SIGIR'22, arXiv 2112.08679) on LightGCN, as RLMRec/SSLRec run it.

Each contrastive view adds uniform noise after every propagation layer (eq. 7):
``E^(l) <- E^(l) + eps * normalize(U(0,1)) * sign(E^(l))`` and sums the layer outputs. InfoNCE between two
noisy views (cosine / ``temperature``) for the batch's users (against all users) and positive items
(against all items), weighted by ``cl_weight``; BPR on the clean view.

RLMRec difference: the paper skips the input embedding ``E^(0)`` in the views ("we skip the input
embedding E(0) in all the views"); SSLRec (RLMRec's ``simgcl*.py``) sums it into each view. Default: the
paper; ``views_include_ego=True`` gives RLMRec's views (``params/rlmrec_*`` set it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .backbone import BackboneParams, Batch, TrainOutput
from .lightgcn import LightGCN
from .losses import info_nce_nodes


@dataclass(frozen=True)
class ViewContrastParams(BackboneParams):
    """The view contrast of SGL and SimGCL: weight ``cl_weight`` and temperature ``temperature``."""

    cl_weight: float = 0.01
    temperature: float = 0.2


@dataclass(frozen=True)
class SimGCLParams(ViewContrastParams):
    """``eps``: noise magnitude per layer (RLMRec: 0.9 on yelp/amazon, 0.2 on steam);
    ``views_include_ego``: sum ``E^(0)`` into each noisy view (RLMRec) or not (paper)."""

    eps: float = 0.1
    views_include_ego: bool = False


class SimGCL(LightGCN):
    name = "simgcl"
    Params = SimGCLParams

    def _noisy(self, ego: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        adj = self.graph.adj()
        out = ego
        total = ego if self.params.views_include_ego else torch.zeros_like(ego)
        for _ in range(self.layers):
            out = adj @ out
            noise = F.normalize(torch.rand_like(out), dim=-1) * torch.sign(out)
            out = out + eps * noise
            total = total + out
        return self.graph.split(total)

    def train_forward(self, batch: Batch, ego) -> TrainOutput:
        p = self.params
        u1, i1 = self._noisy(ego, p.eps)
        u2, i2 = self._noisy(ego, p.eps)
        users, items = self._forward(ego, 1.0)
        cl = info_nce_nodes(u1, u2, batch.users, p.temperature) + info_nce_nodes(i1, i2, batch.pos, p.temperature)
        return TrainOutput(users, items, {"cl": p.cl_weight * cl})
