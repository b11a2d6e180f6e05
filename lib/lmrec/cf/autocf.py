"""AutoCF: Automated Self-Supervised Learning for Recommendation (Xia et al., WWW'23, arXiv 2303.07797).

A masked graph autoencoder whose masks are learned:

* **Infomax seed selection.** Each node's 1- and 2-hop subgraph embedding ``s_v`` (mean of the neighbours'
  layer-0 embeddings, computed with the all-one adjacency) is compared with its own embedding:
  ``phi_v = sigmoid(cos(s_v, e_v))``. ``log phi_v`` plus Gumbel noise ranks the nodes and the top
  ``seed_num`` become mask centres; ``-mean(log phi + noise)`` is the infomax loss.
* **Subgraph masking.** Edges within ``mask_depth`` hops of the seeds are removed; the encoder (``layers``
  products with ``D^-1/2 A' D^-1/2``, RLMRec's ``gcn_layer``) sees the rest. The decoder graph links random pairs of masked nodes
  (plus a ``random_node_share`` of random nodes) as many times as there are edges, plus self-loops and the
  kept edges.
* **Graph-transformer decoder.** ``gt_layers`` of multi-head attention restricted to the decoder edges
  (``att = softmax_row(clamp(q.k, -10, 10))``, no scaling, no residual); encoder and decoder layer outputs
  are summed with the ego embeddings.
* **Loss.** ``-mean <u, i>`` over the batch's observed pairs, the uniformity terms
  ``ssl_reg * (mean_u log sum_u' exp(u.u') + mean_i log sum_i' exp(i.i')) + mean_u log sum_i exp(u.i)``,
  L2 on all parameters (``reg_weight``) and, on the steps that resample the masks, the infomax loss.
  Masks are resampled every ``fix_steps`` training steps (counted from each epoch's start).

Everything follows the authors' code as RLMRec runs it (``autocf.py``, ``AutoCFTrainer``); the masking there
loops over the seeds in Python, here it is one vectorised pass with the same result. At evaluation the
encoder uses the full graph and the decoder attends over all training edges, as in that code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Backbone, BackboneConfig, BackboneParams, Batch, TrainOutput
from .graph import Adjacency, Graph
from .losses import weighted_logsumexp


def gumbel_noise(shape: torch.Size | tuple[int, ...], device: torch.device, generator: torch.Generator | None = None,
                 ) -> torch.Tensor:
    """``-log(-log U)`` with ``U ~ Uniform(0, 1)`` (exact zeros replaced by 1e-8, as in the original)."""
    u = torch.rand(shape, device=device, generator=generator)
    u = torch.where(u == 0, torch.full_like(u, 1e-8), u)
    return -torch.log(-torch.log(u))


def subgraph_relatedness(rows: torch.Tensor, cols: torch.Tensor, ego: torch.Tensor) -> torch.Tensor:
    """``phi_v = sigmoid(cos(s_v, e_v))`` where ``s_v`` is the mean embedding of ``v``'s 1- and 2-hop
    neighbourhood under the all-one adjacency given by ``(rows, cols)`` (no self-loops). The counts follow
    the authors' code: ``A e - e`` for the first hop, ``(A f - f) - deg * e`` for the second."""
    n = ego.shape[0]

    def prop(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n, x.shape[1], dtype=x.dtype, device=x.device).index_add(0, rows, x[cols])

    order = torch.zeros(n, 1, dtype=ego.dtype, device=ego.device).index_add(
        0, rows, torch.ones(rows.numel(), 1, dtype=ego.dtype, device=ego.device))
    first = prop(ego) - ego
    second = (prop(first) - first) - order * ego
    second_num = (prop(order) - order) - order
    sub = (first + second) / (order + second_num + 1e-8)
    return torch.sigmoid((F.normalize(sub, dim=1) * F.normalize(ego, dim=1)).sum(1))


def select_seeds(relatedness: torch.Tensor, seed_num: int, generator: torch.Generator | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gumbel-perturbed log-relatedness (differentiable) and the indices of its ``seed_num`` largest entries."""
    scores = torch.log(relatedness) + gumbel_noise(relatedness.shape, relatedness.device, generator)
    seeds = torch.topk(scores.detach(), min(seed_num, scores.numel())).indices
    return scores, seeds


@dataclass
class MaskedGraphs:
    """One masking draw: the encoder's normalised adjacency, the decoder's edge list, the masked nodes."""

    encoder: Adjacency
    decoder_rows: torch.Tensor
    decoder_cols: torch.Tensor
    masked_nodes: torch.Tensor
    n_removed: int


def mask_subgraphs(rows: torch.Tensor, cols: torch.Tensor, n: int, seeds: torch.Tensor, mask_depth: int,
                   random_node_share: float, backend: str = "torch", generator: torch.Generator | None = None,
                   ) -> MaskedGraphs:
    """Remove every edge within ``mask_depth`` hops of ``seeds`` from the symmetric edge list ``(rows, cols)``.

    Hop ``h`` removes the remaining edges touching the current frontier; the endpoints of those edges
    are the next frontier (all hops but the last) and are masked. ``int(n * random_node_share)`` random nodes join
    the masked set; the decoder links ``len(rows)`` random ordered pairs of masked nodes in both
    directions, adds a self-loop per node and the kept edges (duplicates removed)."""
    device = rows.device
    frontier = torch.zeros(n, dtype=torch.bool, device=device)
    frontier[seeds] = True
    masked = frontier.clone()
    keep = torch.ones(rows.numel(), dtype=torch.bool, device=device)
    for hop in range(mask_depth):
        touch = keep & (frontier[rows] | frontier[cols])
        if hop != mask_depth - 1:
            nxt = torch.zeros(n, dtype=torch.bool, device=device)
            nxt[rows[touch]] = True
            nxt[cols[touch]] = True
            masked |= nxt
            frontier = nxt
        keep &= ~touch
    sampled = torch.randint(n, (int(n * random_node_share),), device=device, generator=generator)
    masked[sampled] = True
    masked_nodes = masked.nonzero().squeeze(1)

    k_rows, k_cols = rows[keep], cols[keep]
    deg = torch.zeros(n, device=device).index_add(0, k_rows, torch.ones(k_rows.numel(), device=device))
    inv = (deg + 1e-12).pow(-0.5)
    encoder = Adjacency(k_rows, k_cols, inv[k_rows] * inv[k_cols], n, backend)

    m = rows.numel()
    pick_r = masked_nodes[torch.randint(masked_nodes.numel(), (m,), device=device, generator=generator)]
    pick_c = masked_nodes[torch.randint(masked_nodes.numel(), (m,), device=device, generator=generator)]
    loop = torch.arange(n, device=device)
    dr = torch.cat([pick_r, pick_c, loop, k_rows])
    dc = torch.cat([pick_c, pick_r, loop, k_cols])
    key = torch.unique(dr * n + dc)
    return MaskedGraphs(encoder, key // n, key % n, masked_nodes, int((~keep).sum()))


class GraphTransformerLayer(nn.Module):
    """Multi-head attention over a given edge list: node ``v`` attends to its decoder neighbours."""

    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, dim)))
        self.k = nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, dim)))
        self.v = nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, dim)))

    def forward(self, rows: torch.Tensor, cols: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n, d = x.shape
        h = self.n_heads
        q = (x[rows] @ self.q).view(-1, h, d // h)
        k = (x[cols] @ self.k).view(-1, h, d // h)
        v = (x[cols] @ self.v).view(-1, h, d // h)
        att = torch.exp(torch.clamp((q * k).sum(-1), -10.0, 10.0))  # [E, h]
        norm = torch.zeros(n, h, dtype=x.dtype, device=x.device).index_add(0, rows, att)[rows]
        att = att / (norm + 1e-8)
        out = (att.unsqueeze(-1) * v).reshape(-1, d)
        return torch.zeros(n, d, dtype=x.dtype, device=x.device).index_add(0, rows, out)


def uniformity_terms(user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, items: torch.Tensor,
                     ssl_reg: float) -> torch.Tensor:
    """AutoCF's contrastive regulariser (no normalisation, no temperature):
    ``ssl_reg * (mean_{u in U(B)} lse_u' <u,u'> + mean_{i in U(B)} lse_i' <i,i'>) + mean_{u in B} lse_i <u,i>``
    where ``U(B)`` are the batch's unique nodes and ``lse`` is log-sum-exp over all users / items."""
    uu = torch.unique(users)
    ii = torch.unique(items)
    self_u = weighted_logsumexp(user_emb[uu], user_emb, torch.full_like(uu, 1.0 / uu.numel(), dtype=user_emb.dtype))
    self_i = weighted_logsumexp(item_emb[ii], item_emb, torch.full_like(ii, 1.0 / ii.numel(), dtype=item_emb.dtype))
    bu, counts = torch.unique(users, return_counts=True)  # the batch's users, each weighted by its count
    cross = weighted_logsumexp(user_emb[bu], item_emb, counts.to(user_emb.dtype) / users.numel())
    return ssl_reg * (self_u + self_i) + cross


@dataclass(frozen=True)
class AutoCFParams(BackboneParams):
    """RLMRec ``autocf.yml`` defaults: ``gt_layers`` (1), ``n_heads`` (4), ``seed_num`` (100), ``mask_depth``
    (2), ``random_node_share`` (0.2: the share of random nodes added to the masked set; AutoCF's code calls it
    keepRate, which in LightGCN/SGL is an edge keep probability),
    ``fix_steps`` (10), ``ssl_reg`` (1.0). ``con_negatives``: RLMRec-Con on AutoCF also aligns the trainer's
    sampled negative items (True, the paper's alignment of every node in the batch) or only users and
    positive items (False, RLMRec's ``autocf_plus.py``: AutoCF's loss uses no negatives)."""

    gt_layers: int = 1
    n_heads: int = 4
    seed_num: int = 100
    mask_depth: int = 2
    random_node_share: float = 0.2
    fix_steps: int = 10
    ssl_reg: float = 1.0
    con_negatives: bool = True

    def __post_init__(self) -> None:
        if self.mask_depth < 1 or self.fix_steps < 1 or self.seed_num < 1:
            raise ValueError("AutoCF: mask_depth, fix_steps and seed_num must be >= 1")


class AutoCF(Backbone):
    """AutoCF backbone: ``layers`` GCN encoder layers + ``gt_layers`` graph-transformer decoder layers.

    Hyperparameters: :class:`AutoCFParams`. Its reconstruction loss replaces BPR (:meth:`rec_loss`).

    Training protocol through the trainer's hooks: :meth:`on_epoch_start` restarts the step count,
    :meth:`on_step_start` re-draws seeds and masks every ``fix_steps`` steps (the infomax loss of that draw
    joins that step's losses), :meth:`train_forward` propagates the masked graphs.
    """

    name = "autocf"
    rec_loss_name = "rec"
    Params = AutoCFParams

    def __init__(self, graph: Graph, config: BackboneConfig) -> None:
        super().__init__(graph, config)
        p = self.params
        self.gt_layers, self.n_heads, self.seed_num = p.gt_layers, p.n_heads, p.seed_num
        self.mask_depth, self.random_node_share, self.fix_steps, self.ssl_reg = p.mask_depth, p.random_node_share, p.fix_steps, p.ssl_reg
        if self.dim % self.n_heads:
            raise ValueError(f"AutoCF: dim={self.dim} must be divisible by n_heads={self.n_heads}")
        self.gt = nn.ModuleList([GraphTransformerLayer(self.dim, self.n_heads) for _ in range(self.gt_layers)])
        full = graph.adj(self_loops=False)
        self._edges = (full.rows, full.cols)  # symmetric training edges, no self-loops
        self.masks: MaskedGraphs | None = None
        self._step = 0
        self._infomax: torch.Tensor | None = None

    def resample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw new seeds and masks (stored in :attr:`masks`); returns the infomax loss ``-mean(scores)``."""
        rows, cols = self._edges
        relatedness = subgraph_relatedness(rows, cols, self.ego())
        scores, seeds = select_seeds(relatedness, self.seed_num, generator)
        self.masks = mask_subgraphs(rows, cols, self.graph.n_nodes, seeds, self.mask_depth, self.random_node_share,
                                    self.graph.backend, generator)
        return -scores.mean()

    def propagate(self, ego: torch.Tensor | None = None, masked: bool = False) -> torch.Tensor:
        """Sum of the ego, GCN-layer and GT-layer embeddings ``[n_nodes, dim]``. ``masked=True`` uses the
        current masks (call :meth:`resample` first); otherwise the full graph (inference)."""
        x = self.ego() if ego is None else ego
        if masked:
            if self.masks is None:
                raise RuntimeError("AutoCF.propagate(masked=True) before resample(): draw masks first")
            enc, drows, dcols = self.masks.encoder, self.masks.decoder_rows, self.masks.decoder_cols
        else:
            enc, (drows, dcols) = self.graph.adj(self_loops=False), self._edges
        layers = [x]
        for _ in range(self.layers):
            layers.append(enc @ layers[-1])
        for gt in self.gt:
            layers.append(gt(drows, dcols, layers[-1]))
        return torch.stack(layers, 0).sum(0)

    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.graph.split(self.propagate(ego))

    def on_epoch_start(self, epoch: int) -> None:
        self._step = 0

    def on_step_start(self, batch: Batch) -> None:
        if self._step % self.fix_steps == 0 or self.masks is None:
            self._infomax = self.resample()
        self._step += 1

    def train_forward(self, batch: Batch, ego: torch.Tensor) -> TrainOutput:
        if self.masks is None:
            self._infomax = self.resample()
        users, items = self.graph.split(self.propagate(ego, masked=True))
        losses = {"uniformity": uniformity_terms(users, items, batch.users, batch.pos, self.ssl_reg)}
        if self._infomax is not None:
            losses["infomax"] = self._infomax
            self._infomax = None
        return TrainOutput(users, items, losses)

    def rec_loss(self, out: TrainOutput, batch: Batch) -> torch.Tensor:
        """AutoCF's reconstruction of the observed pairs: ``-mean <u, i+>`` (no negatives; replaces BPR)."""
        return -(out.users[batch.users] * out.items[batch.pos]).sum(-1).mean()
