"""SGL (Wu et al., SIGIR'21, arXiv 2010.10783), edge-dropout variant, on LightGCN, as RLMRec/SSLRec run it.

Two views from independently edge-dropped graphs ``s1(G), s2(G)`` (eq. 9, keep probability
``keep_rate``); InfoNCE between the views (eq. 10, cosine / ``temperature``) for the batch's users,
positive items and negative items, each against all users / all items of the second view; weighted by
``cl_weight`` (eq. 12). BPR is computed on the clean (un-dropped) graph, as in SSLRec.

RLMRec quirk: its SGL reads the layer count from the top-level ``model.layer_num`` instead of the
dataset-specific value (3 layers on yelp and steam where the per-dataset value is 3 / 2). We use the
configured ``layers`` (the dataset-specific value) by default.
Hyperparameters in ``extra``: ``keep_rate`` (0.8), ``cl_weight`` (0.1), ``temperature`` (0.2).
"""

from __future__ import annotations

from .backbone import Batch, TrainOutput
from .lightgcn import LightGCN
from .losses import info_nce


class SGL(LightGCN):
    name = "sgl"

    def train_forward(self, batch: Batch, ego) -> TrainOutput:
        keep = float(self.config.get("keep_rate", 0.8))
        t = float(self.config.get("temperature", 0.2))
        u1, i1 = self._forward(ego, keep)
        u2, i2 = self._forward(ego, keep)
        users, items = self._forward(ego, 1.0)
        cl = (info_nce(u1[batch.users], u2[batch.users], u2, t, batch.users)
              + info_nce(i1[batch.pos], i2[batch.pos], i2, t, batch.pos)
              + info_nce(i1[batch.neg], i2[batch.neg], i2, t, batch.neg))
        return TrainOutput(users, items, {"cl": float(self.config.get("cl_weight", 0.1)) * cl})
