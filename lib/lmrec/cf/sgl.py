"""SGL (Wu et al., SIGIR'21, arXiv 2010.10783), edge-dropout variant, on LightGCN, as RLMRec/SSLRec run it.

Two views from independently edge-dropped graphs ``s1(G), s2(G)`` (eq. 9, keep probability
``keep_rate``); InfoNCE between the views (eq. 10, cosine / ``temperature``) for the batch's users,
positive items and negative items, each against all users / all items of the second view; weighted by
``cl_weight`` (eq. 12). BPR is computed on the clean (un-dropped) graph, as in SSLRec.

RLMRec differences: its SGL reads the layer count from the top-level ``model.layer_num`` of ``sgl.yml``
(3) instead of the dataset-specific value (2 on steam); ``layers`` is what runs, so ``params/rlmrec_steam``
sets ``LAYERS: 3`` on the plain SGL row to run what RLMRec runs. Edge dropout: see
:mod:`lmrec.cf.lightgcn` (``edge_drop``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .backbone import Batch, TrainOutput
from .lightgcn import LightGCN, LightGCNParams
from .losses import info_nce_nodes
from .simgcl import ViewContrastParams


@dataclass(frozen=True)
class SGLParams(LightGCNParams, ViewContrastParams):
    """LightGCN's ``keep_rate``/``edge_drop`` (here: the views' dropout) + the view contrast's
    ``cl_weight``/``temperature``."""


class SGL(LightGCN):
    name = "sgl"
    Params = SGLParams

    def train_forward(self, batch: Batch, ego) -> TrainOutput:
        p = self.params
        u1, i1 = self._forward(ego, p.keep_rate)
        u2, i2 = self._forward(ego, p.keep_rate)
        users, items = self._forward(ego, 1.0)
        t = p.temperature
        cl = (info_nce_nodes(u1, u2, batch.users, t) + info_nce_nodes(i1, i2, batch.pos, t)
              + info_nce_nodes(i1, i2, batch.neg, t))
        return TrainOutput(users, items, {"cl": p.cl_weight * cl})
