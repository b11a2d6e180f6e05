"""SimGCL (Yu et al., SIGIR'22, arXiv 2112.08679) on LightGCN, as RLMRec/SSLRec run it.

Each contrastive view adds uniform noise after every propagation layer (eq. 7):
``E^(l) <- E^(l) + eps * normalize(U(0,1)) * sign(E^(l))`` and sums the layer outputs. The paper skips
the input embedding ``E^(0)`` in the views ("we skip the input embedding E(0) in all the views"); SSLRec
(RLMRec's code) includes it. Default: the paper; ``views_include_ego=True`` gives RLMRec's behaviour. InfoNCE between two noisy views (cosine / ``temperature``) for the
batch's users (against all users) and positive items (against all items), weighted by ``cl_weight``;
BPR on the clean view.
Hyperparameters in ``extra``: ``views_include_ego`` (False), ``eps`` (0.9 on RLMRec's yelp/amazon), ``cl_weight`` (0.1),
``temperature`` (0.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .backbone import Batch, TrainOutput
from .lightgcn import LightGCN
from .losses import info_nce


class SimGCL(LightGCN):
    name = "simgcl"

    def _noisy(self, ego: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        adj = self.graph.adj()
        out = ego
        total = ego if bool(self.config.get("views_include_ego", False)) else torch.zeros_like(ego)
        for _ in range(self.layers):
            out = adj @ out
            noise = F.normalize(torch.rand_like(out), dim=-1) * torch.sign(out)
            out = out + eps * noise
            total = total + out
        return self.graph.split(total)

    def train_forward(self, batch: Batch, ego) -> TrainOutput:
        eps = float(self.config.get("eps", 0.1))
        t = float(self.config.get("temperature", 0.2))
        u1, i1 = self._noisy(ego, eps)
        u2, i2 = self._noisy(ego, eps)
        users, items = self._forward(ego, 1.0)
        cl = info_nce(u1[batch.users], u2[batch.users], u2, t, batch.users) + info_nce(i1[batch.pos], i2[batch.pos], i2, t, batch.pos)
        return TrainOutput(users, items, {"cl": float(self.config.get("cl_weight", 0.1)) * cl})
