"""AutoCF: subgraph relatedness, seed selection, subgraph masking against a per-seed loop, the graph-transformer
layer against dense attention, the loss terms, the resampling schedule through the trainer's hooks,
composition with alignments, and learning a planted signal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lmrec.cf import BackboneConfig, Batch, CFModel, CFTrainConfig, Graph, NoAlignment, build_alignment
from lmrec.cf.autocf import (
    AutoCF,
    GraphTransformerLayer,
    mask_subgraphs,
    select_seeds,
    subgraph_relatedness,
    uniformity_terms,
)
from lmrec.cf.trainer import train_cf
from lmrec.data import InteractionDataset, make_interactions
from lmrec.eval import Protocol


def sym_edges(pairs: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [a for a, b in pairs] + [b for a, b in pairs]
    cols = [b for a, b in pairs] + [a for a, b in pairs]
    return torch.tensor(rows), torch.tensor(cols)


def test_subgraph_relatedness_matches_dense_formula():
    torch.manual_seed(0)
    rows, cols = sym_edges([(0, 3), (0, 4), (1, 4), (2, 5), (1, 5)])
    n = 6
    ego = torch.randn(n, 4)
    a = torch.zeros(n, n)
    a[rows, cols] = 1.0
    deg = a.sum(1, keepdim=True)
    first = a @ ego - ego
    second = (a @ first - first) - deg * ego
    count = deg + ((a @ deg - deg) - deg)
    sub = (first + second) / (count + 1e-8)
    want = torch.sigmoid(torch.nn.functional.cosine_similarity(sub, ego, dim=1))
    assert torch.allclose(subgraph_relatedness(rows, cols, ego), want, atol=1e-5)


def test_select_seeds_takes_top_noisy_scores_and_is_differentiable():
    rel = torch.tensor([0.1, 0.9, 0.5, 0.99], requires_grad=True)
    gen = torch.Generator().manual_seed(1)
    scores, seeds = select_seeds(rel, 2, gen)
    assert set(seeds.tolist()) == set(torch.topk(scores.detach(), 2).indices.tolist())
    (-scores.mean()).backward()
    assert torch.allclose(rel.grad, -1 / (4 * rel.detach()))  # d/dr of -mean(log r + noise)
    assert select_seeds(rel.detach(), 10)[1].numel() == 4  # capped at the node count


def reference_mask(rows: torch.Tensor, cols: torch.Tensor, seeds: list[int], depth: int):
    """The per-seed loop of the authors' code, written plainly (edges removed hop by hop, seed by seed)."""
    edges = list(zip(rows.tolist(), cols.tolist()))
    masked = set(seeds)
    frontier = list(seeds)
    for hop in range(depth):
        nxt = set()
        for s in frontier:
            touching = [e for e in edges if s in e]
            if hop != depth - 1:
                for a, b in touching:
                    nxt.update((a, b))
            edges = [e for e in edges if s not in e]
        if nxt:
            masked |= nxt
        frontier = sorted(nxt)
    return set(edges), masked


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_mask_subgraphs_matches_per_seed_loop(depth):
    # a path 0-1-2-3-4-5-6 plus a branch 2-7
    rows, cols = sym_edges([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (2, 7)])
    n = 8
    out = mask_subgraphs(rows, cols, n, torch.tensor([0]), depth, random_node_share=0.0)
    kept, masked = reference_mask(rows, cols, [0], depth)
    got = set(zip(out.encoder.rows.tolist(), out.encoder.cols.tolist()))
    assert got == kept
    assert set(out.masked_nodes.tolist()) == masked
    assert out.n_removed == rows.numel() - len(kept)
    # encoder: symmetric normalisation over the kept edges
    deg = torch.zeros(n).index_add(0, out.encoder.rows, torch.ones(out.encoder.nnz))
    want = (deg[out.encoder.rows] * deg[out.encoder.cols]).pow(-0.5)
    assert torch.allclose(out.encoder.vals, want)
    # decoder: unique edges = self-loops + kept edges + pairs of masked nodes only
    dec = list(zip(out.decoder_rows.tolist(), out.decoder_cols.tolist()))
    assert len(dec) == len(set(dec))
    assert {(v, v) for v in range(n)} <= set(dec) and kept <= set(dec)
    extra = set(dec) - kept - {(v, v) for v in range(n)}
    assert all(a in masked and b in masked for a, b in extra)
    assert all((b, a) in set(dec) for a, b in extra)


def test_mask_subgraphs_two_seeds_and_random_nodes():
    rows, cols = sym_edges([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (2, 7)])
    out = mask_subgraphs(rows, cols, 8, torch.tensor([0, 6]), 2, random_node_share=0.0)
    kept, masked = reference_mask(rows, cols, [0, 6], 2)
    assert set(zip(out.encoder.rows.tolist(), out.encoder.cols.tolist())) == kept
    assert set(out.masked_nodes.tolist()) == masked
    torch.manual_seed(3)
    many = mask_subgraphs(rows, cols, 8, torch.tensor([0]), 1, random_node_share=1.0)
    assert many.masked_nodes.numel() > 2  # 8 random draws join the masked set


def test_graph_transformer_layer_matches_dense_attention():
    torch.manual_seed(4)
    n, d, h = 5, 8, 2
    layer = GraphTransformerLayer(d, h)
    rows, cols = sym_edges([(0, 1), (0, 2), (1, 3), (2, 4)])
    loop = torch.arange(n)
    rows, cols = torch.cat([rows, loop]), torch.cat([cols, loop])
    x = torch.randn(n, d)
    out = layer(rows, cols, x)
    q, k, v = x @ layer.q, x @ layer.k, x @ layer.v
    adj = torch.zeros(n, n, dtype=torch.bool)
    adj[rows, cols] = True
    want = torch.zeros(n, d)
    hd = d // h
    for head in range(h):
        sl = slice(head * hd, (head + 1) * hd)
        logits = (q[:, sl] @ k[:, sl].T).clamp(-10, 10)
        w = torch.where(adj, logits.exp(), torch.zeros(()))
        w = w / (w.sum(1, keepdim=True) + 1e-8)
        want[:, sl] = w @ v[:, sl]
    assert torch.allclose(out, want, atol=1e-5)


def test_uniformity_terms_hand_computed():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    i = torch.tensor([[0.5, 0.0], [0.0, -1.0]])
    users, items = torch.tensor([0, 0, 2]), torch.tensor([1, 1, 0])

    def lse(row, mat):
        return math.log(sum(math.exp(float(row @ m)) for m in mat))

    self_u = (lse(u[0], u) + lse(u[2], u)) / 2  # unique users 0, 2
    self_i = (lse(i[0], i) + lse(i[1], i)) / 2  # unique items 0, 1
    cross = (2 * lse(u[0], i) + lse(u[2], i)) / 3  # every batch user, duplicates kept
    got = uniformity_terms(u, i, users, items, ssl_reg=2.0)
    assert got.item() == pytest.approx(2.0 * (self_u + self_i) + cross, rel=1e-6)


def tiny_graph() -> Graph:
    return Graph(sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32)))


def test_rec_loss_replaces_bpr_and_masks_follow_fix_steps():
    torch.manual_seed(5)
    bb = AutoCF(tiny_graph(), BackboneConfig(dim=8, layers=2, extra={"seed_num": 2, "fix_steps": 2}))
    model = CFModel(bb, NoAlignment(), reg_weight=1e-6)
    batch = Batch(torch.tensor([0, 1, 2]), torch.tensor([0, 2, 3]), torch.tensor([2, 0, 0]))
    bb.on_epoch_start(0)
    seen = []
    for _ in range(5):
        bb.on_step_start(batch)
        masks = bb.masks
        loss, parts = model.loss(batch)
        loss.backward()
        seen.append(("infomax" in parts, masks))
        assert "bpr" not in parts and {"rec", "uniformity", "reg"} <= set(parts)
        out_users, out_items = bb.graph.split(bb.propagate(bb.ego(), masked=True))
        want = -(out_users[batch.users] * out_items[batch.pos]).sum(-1).mean()
        assert parts["rec"].item() == pytest.approx(want.item(), rel=1e-5, abs=1e-7)
    assert [s[0] for s in seen] == [True, False, True, False, True]
    assert seen[0][1] is seen[1][1] and seen[1][1] is not seen[2][1]
    bb.on_epoch_start(1)  # the count restarts with each epoch
    bb.on_step_start(batch)
    assert bb.masks is not seen[4][1]


def test_backbone_shapes_inference_path_and_option_validation():
    torch.manual_seed(6)
    graph = tiny_graph()
    bb = AutoCF(graph, BackboneConfig(dim=8, layers=2, extra={"gt_layers": 2, "seed_num": 1}))
    users, items = bb.encode()
    assert users.shape == (3, 8) and items.shape == (4, 8)
    # inference: encoder = full normalised graph, decoder attends over all training edges
    x = bb.ego()
    adj = graph.adj()
    e1 = adj @ x
    e2 = adj @ e1
    g1 = bb.gt[0](adj.rows, adj.cols, e2)
    g2 = bb.gt[1](adj.rows, adj.cols, g1)
    assert torch.allclose(torch.cat([users, items]), x + e1 + e2 + g1 + g2, atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        AutoCF(graph, BackboneConfig(dim=10, layers=1, extra={"n_heads": 4}))
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        AutoCF(graph, BackboneConfig(dim=8, layers=1, extra={"head_num": 4}))


@pytest.mark.parametrize("alignment", ["con", "gen"])
def test_autocf_composes_with_alignments(alignment):
    torch.manual_seed(7)
    bb = AutoCF(tiny_graph(), BackboneConfig(dim=8, layers=1, extra={"seed_num": 1}))
    align = build_alignment(alignment, bb, torch.randn(3, 16), torch.randn(4, 16), kd_weight=0.01, kd_temperature=0.2, mask_ratio=0.3, recon_weight=0.1, re_temperature=0.2)
    model = CFModel(bb, align, reg_weight=1e-6)
    batch = Batch(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 3]), torch.tensor([2, 3, 0]))
    bb.on_epoch_start(0)
    bb.on_step_start(batch)
    loss, parts = model.loss(batch)
    loss.backward()
    assert {"rec", "uniformity", "infomax"} <= set(parts) and ({"kd"} <= set(parts) or {"recon"} <= set(parts))
    assert bb.user_emb.grad is not None and torch.isfinite(loss)


def planted_dataset(seed: int = 0) -> InteractionDataset:
    """Two communities: users 0-19 like items 0-14, users 20-39 like items 15-29 (10 random each)."""
    rng = np.random.default_rng(seed)
    users, items, splits = [], [], []
    for u in range(40):
        items += list(rng.choice(np.arange(15) + (0 if u < 20 else 15), 10, replace=False))
        users += [u] * 10
        splits += ["train"] * 6 + ["valid"] * 2 + ["test"] * 2
    frame = make_interactions(np.array(users), np.array(items), np.array(splits))
    return InteractionDataset("planted", frame, 40, 30, np.arange(40), np.arange(30))


def test_autocf_learns_planted_communities():
    torch.manual_seed(8)
    ds = planted_dataset()
    bb = AutoCF(Graph(ds.train), BackboneConfig(dim=16, layers=2, extra={"seed_num": 5, "fix_steps": 2}))
    model = CFModel(bb, NoAlignment(), reg_weight=1e-6)
    res = train_cf(model, ds, CFTrainConfig(epochs=30, batch_size=64, lr=0.01, eval_every=5, patience=10, progress=False,
                                     select_metric="recall@5"), Protocol(ks=(5,), mask_valid_at_test=True))
    # random: 5/22 ~ 0.23 of the test items in the top 5; own community first: ~5/7 ~ 0.71
    assert res.test.metrics["recall@5"] > 0.45
    assert res.history[-1]["rec"] < res.history[0]["rec"]


@pytest.mark.parametrize("scale", [1.0, 40.0])  # 40: logits in the thousands, the row-max-shifted path
def test_uniformity_terms_gradients_match_the_plain_formula(scale):
    torch.manual_seed(0)
    u = (scale * torch.randn(7, 3)).requires_grad_(True)
    i = (scale * torch.randn(5, 3)).requires_grad_(True)
    users, items = torch.tensor([0, 0, 4, 6, 6, 6]), torch.tensor([1, 2, 2, 0, 4, 4])
    uu, ii = torch.unique(users), torch.unique(items)
    plain = (0.5 * (torch.logsumexp(u[uu] @ u.T, 1).mean() + torch.logsumexp(i[ii] @ i.T, 1).mean())
             + torch.logsumexp(u[users] @ i.T, 1).mean())
    got = uniformity_terms(u, i, users, items, ssl_reg=0.5)
    torch.testing.assert_close(got, plain, rtol=1e-5, atol=1e-5 * scale)
    for a, b in zip(torch.autograd.grad(got, [u, i]), torch.autograd.grad(plain, [u, i])):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
