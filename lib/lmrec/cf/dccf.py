"""DCCF: Disentangled Contrastive Collaborative Filtering (Ren et al., SIGIR'23, arXiv 2305.02759).

Each layer ``l`` of the encoder combines four views of the node embeddings ``E^l`` (users then items):

* graph message passing ``Z^l = D^-1/2 A D^-1/2 E^l`` (the LightGCN adjacency, no self-loops);
* intent-aware aggregation ``R^l_u = softmax(E^l_u C_u) C_u^T`` (and the same for items with ``C_i``),
  where ``C_u, C_i`` (``d x K``) hold ``K`` learnable intent prototypes;
* two adaptive augmented graphs: edge weights ``alpha_ij = (cos(z_i, z_j) + 1) / 2`` from the local view
  (``H^beta``) and from the intent view (``H^gamma``), row-normalised ``D_alpha^-1 alpha``, each propagating
  ``E^l``;

``E^{l+1} = Z^l + R^l + H^beta,l + H^gamma,l + E^l`` and the final embedding is ``sum_l E^l``.
The self-supervised term is InfoNCE between the local view and each of the three other views, for the
users and the items of the batch, at every layer (temperature ``cl_temperature``), weighted by
``cl_weight``; training adds BPR and L2 on all parameters (``reg_weight``), as in RLMRec's code.

Faithfulness note. The paper contrasts the nodes of the mini-batch; RLMRec (``dccf.py``, "remove negative
items") and the authors' own code pass only the positive items and divide the item terms by the number
of users. ``contrastive_items="batch"`` (default) uses users + positive + negative items and averages each
term over its own nodes; ``contrastive_items="positives"`` reproduces RLMRec's computation exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Backbone, BackboneConfig, BackboneParams, Batch, TrainOutput
from .graph import Adjacency, Graph, csr_like, transpose_index
from .losses import info_nce

CONTRASTIVE_ITEMS = ("batch", "positives")


def intent_aggregate(x: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """``softmax(x C) C^T``: each row re-expressed as a mixture of the ``K`` intent prototypes (``C``: d x K)."""
    return torch.softmax(x @ prototypes, dim=1) @ prototypes.T


def undirected_pairs(rows: torch.Tensor, cols: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a symmetric edge list: one ``(row, col)`` per undirected edge and, per directed edge, the index of
    its undirected edge (so symmetric edge scores are computed once)."""
    key = torch.minimum(rows, cols) * n + torch.maximum(rows, cols)
    uniq, inverse = torch.unique(key, return_inverse=True)
    return uniq // n, uniq % n, inverse


def adaptive_edge_values(view: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, n: int,
                         pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Edge values of DCCF's learned graph: ``alpha_e = (cos(v_row, v_col) + 1) / 2`` normalised by the
    row sum (``D_alpha^-1 alpha``; rows without edges give no values). Differentiable in ``view``.
    ``pairs`` (from :func:`undirected_pairs`) computes each symmetric score once."""
    v = F.normalize(view, dim=1)
    if pairs is None:
        alpha = ((v[rows] * v[cols]).sum(1) + 1) / 2
    else:
        pr, pc, inverse = pairs
        alpha = (((v[pr] * v[pc]).sum(1) + 1) / 2)[inverse]
    row_sum = torch.zeros(n, dtype=alpha.dtype, device=alpha.device).index_add(0, rows, alpha)
    inv = torch.nan_to_num(row_sum.pow(-1), nan=0.0, posinf=0.0, neginf=0.0)
    return inv[rows] * alpha


def spmm_multi(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n: int, x: torch.Tensor,
               ) -> torch.Tensor:
    """``[A_1 x, ..., A_k x]`` for ``k`` matrices sharing one sparsity pattern (``values``: ``[nnz, k]``),
    with one gather and one ``index_add``; differentiable in ``values`` and ``x``. Returns ``[k, n, d]``."""
    msg = values.T.unsqueeze(-1) * x[cols].unsqueeze(0)  # [k, nnz, d]
    k, _, d = msg.shape
    out = torch.zeros(n, k * d, dtype=x.dtype, device=x.device)
    out = out.index_add(0, rows, msg.permute(1, 0, 2).reshape(-1, k * d))
    return out.view(n, k, d).permute(1, 0, 2)


def pattern_spmm(adj: Adjacency, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:func:`spmm_multi` on the ``torch`` backend: ``values`` (``[nnz, k]``, in ``adj``'s entry order, a
    symmetric pattern) become ``k`` CSR matrices sharing ``adj``'s indices; sparse products forward and
    backward, the values' gradient by sampled dense-dense products (SDDMM). Returns ``[k, n, d]``."""
    if adj._transpose is None:
        adj._transpose = transpose_index(adj.rows, adj.cols, adj.n)
    return _PatternSpMM.apply(values, x, adj)


class _PatternSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: torch.Tensor, x: torch.Tensor, adj: Adjacency) -> torch.Tensor:  # noqa: D102
        crow, col = adj._csr.crow_indices(), adj._csr.col_indices()
        ctx.save_for_backward(values, x)
        ctx.adj = adj
        return torch.stack([torch.sparse.mm(csr_like(crow, col, values[:, k].contiguous(), adj.n), x)
                            for k in range(values.shape[1])])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        values, x = ctx.saved_tensors
        adj = ctx.adj
        crow, col, n = adj._csr.crow_indices(), adj._csr.col_indices(), adj.n
        grad_v = grad_x = None
        if ctx.needs_input_grad[1]:  # A^T g: the transpose's values in the same (symmetric) pattern
            vt = values[adj._transpose]
            grad_x = sum(torch.sparse.mm(csr_like(crow, col, vt[:, k].contiguous(), n), grad[k].contiguous())
                         for k in range(values.shape[1]))
        if ctx.needs_input_grad[0]:  # d/dv_e = <g[row_e], x[col_e]>
            pattern = csr_like(crow, col, torch.ones_like(values[:, 0]), n)
            xt = x.T.contiguous()
            grad_v = torch.stack([torch.sparse.sampled_addmm(pattern, grad[k].contiguous(), xt, beta=0.0).values()
                                  for k in range(values.shape[1])], dim=1)
        return grad_v, grad_x, None


@dataclass
class DCCFViews:
    """Per-layer views of one forward pass (each ``[n_nodes, d]``), kept for the contrastive term."""

    local: list[torch.Tensor]
    intent: list[torch.Tensor]
    local_adaptive: list[torch.Tensor]
    intent_adaptive: list[torch.Tensor]


def dccf_encode(ego: torch.Tensor, graph: Graph, user_intent: torch.Tensor, item_intent: torch.Tensor,
                layers: int, pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, DCCFViews]:
    """DCCF's propagation from ego embeddings ``[n_nodes, d]``: returns ``sum_l E^l`` and the layer views.
    The fixed graph uses the graph's backend; the two learned graphs (new values every step, gradients
    through the values) use CSR products on the fixed graph's pattern (:func:`pattern_spmm`) with the
    ``torch`` backend, else pure-PyTorch gather + ``index_add`` (:func:`spmm_multi`)."""
    adj = graph.adj(self_loops=False)
    rows, cols, n = adj.rows, adj.cols, adj.n
    outputs = [ego]
    views = DCCFViews([], [], [], [])
    for _ in range(layers):
        e = outputs[-1]
        z = adj @ e
        r = torch.cat([intent_aggregate(e[: graph.n_users], user_intent),
                       intent_aggregate(e[graph.n_users:], item_intent)], dim=0)
        values = torch.stack([adaptive_edge_values(z, rows, cols, n, pairs),
                              adaptive_edge_values(r, rows, cols, n, pairs)], dim=1)
        h_beta, h_gamma = (pattern_spmm(adj, values, e) if adj.backend == "torch"
                           else spmm_multi(rows, cols, values, n, e))
        views.local.append(z)
        views.intent.append(r)
        views.local_adaptive.append(h_beta)
        views.intent_adaptive.append(h_gamma)
        outputs.append(z + r + h_beta + h_gamma + e)
    return torch.stack(outputs, 0).sum(0), views


def dccf_contrastive_loss(views: DCCFViews, n_users: int, users: torch.Tensor, pos_items: torch.Tensor,
                          neg_items: torch.Tensor | None, temperature: float,
                          contrastive_items: str = "batch") -> torch.Tensor:
    """Sum over layers of InfoNCE(local, intent) + InfoNCE(local, local-adaptive) + InfoNCE(local,
    intent-adaptive), for the batch's unique users and unique items (in-batch negatives).

    ``contrastive_items="batch"``: items = positives and negatives, each term a mean over its nodes.
    ``"positives"``: items = positives only, every term divided by the number of users (RLMRec's code).
    """
    if contrastive_items not in CONTRASTIVE_ITEMS:
        raise ValueError(f"contrastive_items={contrastive_items!r}; choose one of {CONTRASTIVE_ITEMS}")
    u = torch.unique(users)
    if contrastive_items == "batch" and neg_items is not None:
        i = torch.unique(torch.cat([pos_items, neg_items.reshape(-1)])) + n_users
    else:
        i = torch.unique(pos_items) + n_users
    total = torch.zeros((), device=users.device)
    for z, r, hb, hg in zip(views.local, views.intent, views.local_adaptive, views.intent_adaptive):
        for nodes in (u, i):
            scale = 1.0
            if contrastive_items == "positives" and nodes is i:
                scale = nodes.numel() / u.numel()  # mean over items -> sum over items / n_users
            for other in (r, hb, hg):
                total = total + scale * info_nce(z[nodes], other[nodes], temperature=temperature)
    return total


@dataclass(frozen=True)
class DCCFParams(BackboneParams):
    """``n_intents`` prototypes per side (RLMRec 128), ``cl_weight`` and ``cl_temperature`` of the
    contrastive term (RLMRec 1e-3, 0.1), ``contrastive_items``: ``batch`` (paper) | ``positives`` (RLMRec)."""

    n_intents: int = 128
    cl_weight: float = 1e-3
    cl_temperature: float = 0.1
    contrastive_items: str = field(default="batch", metadata={"choices": CONTRASTIVE_ITEMS})

    def __post_init__(self) -> None:
        if self.n_intents < 1:
            raise ValueError(f"DCCF: n_intents={self.n_intents} must be >= 1")


class DCCF(Backbone):
    """DCCF backbone: user/item embeddings, intent prototypes ``C_u, C_i`` (``dim x n_intents``).

    Hyperparameters: :class:`DCCFParams`. ``layers`` is the number of DCCF layers (2 on RLMRec's
    amazon/yelp, 3 on steam).
    """

    name = "dccf"
    Params = DCCFParams

    def __init__(self, graph: Graph, config: BackboneConfig) -> None:
        super().__init__(graph, config)
        p = self.params
        self.n_intents, self.cl_weight, self.cl_temperature = p.n_intents, p.cl_weight, p.cl_temperature
        self.contrastive_items = p.contrastive_items
        if self.layers < 1:
            raise ValueError("DCCF: layers must be >= 1")
        self.user_intent = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.dim, self.n_intents)))
        self.item_intent = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.dim, self.n_intents)))
        adj = graph.adj(self_loops=False)
        self._pairs = undirected_pairs(adj.rows, adj.cols, adj.n)

    def propagate(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, DCCFViews]:
        """Final node embeddings ``[n_nodes, dim]`` and the per-layer views."""
        return dccf_encode(self.ego() if ego is None else ego, self.graph, self.user_intent, self.item_intent,
                           self.layers, self._pairs)

    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.graph.split(self.propagate(ego)[0])

    def train_forward(self, batch: Batch, ego: torch.Tensor) -> TrainOutput:
        final, views = self.propagate(ego)
        cl = dccf_contrastive_loss(views, self.n_users, batch.users, batch.pos, batch.neg, self.cl_temperature,
                                   self.contrastive_items)
        users, items = self.graph.split(final)
        return TrainOutput(users, items, {"cl": self.cl_weight * cl})
