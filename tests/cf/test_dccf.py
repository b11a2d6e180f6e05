"""DCCF: intent aggregation, learned-graph weights, one layer against a dense reference, the contrastive
term (paper vs RLMRec's item set), composition with alignments, and learning a planted signal."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from lmrec.cf import BackboneConfig, Batch, CFModel, CFTrainConfig, Graph, NoAlignment, build_alignment
from lmrec.cf.dccf import (
    DCCF,
    DCCFViews,
    adaptive_edge_values,
    dccf_contrastive_loss,
    dccf_encode,
    intent_aggregate,
    spmm_multi,
    undirected_pairs,
)
from lmrec.cf.trainer import train_cf
from lmrec.data import InteractionDataset, make_interactions
from lmrec.eval import Protocol


def tiny_train() -> sp.csr_matrix:
    # 3 users x 4 items
    return sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32))


def dense_adj(train: sp.csr_matrix) -> torch.Tensor:
    r = torch.as_tensor(train.toarray())
    nu, ni = r.shape
    a = torch.zeros(nu + ni, nu + ni)
    a[:nu, nu:] = r
    a[nu:, :nu] = r.T
    return a


def test_intent_aggregate_matches_softmax_formula_and_picks_dominant_prototype():
    torch.manual_seed(0)
    x, c = torch.randn(5, 4), torch.randn(4, 3)
    ref = torch.stack([sum(torch.softmax(x[k] @ c, 0)[j] * c[:, j] for j in range(3)) for k in range(5)])
    assert torch.allclose(intent_aggregate(x, c), ref, atol=1e-6)
    protos = torch.eye(4)[:, :3] * 1.0
    far = 50.0 * protos[:, 1]  # strongly aligned with prototype 1
    assert torch.allclose(intent_aggregate(far[None], protos)[0], protos[:, 1], atol=1e-4)


def test_adaptive_edge_values_hand_case_and_row_normalisation():
    # path 0 - 1 - 2 (symmetric), node 3 isolated
    rows = torch.tensor([0, 1, 1, 2])
    cols = torch.tensor([1, 0, 2, 1])
    view = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    vals = adaptive_edge_values(view, rows, cols, 4)
    # alpha(0,1) = (1+1)/2 = 1, alpha(1,2) = (0+1)/2 = 0.5; node 1's row sums 1.5
    assert torch.allclose(vals, torch.tensor([1.0, 1 / 1.5, 0.5 / 1.5, 1.0]), atol=1e-6)
    row_sum = torch.zeros(4).index_add(0, rows, vals)
    assert torch.allclose(row_sum[:3], torch.ones(3))
    pairs = undirected_pairs(rows, cols, 4)
    assert pairs[0].numel() == 2
    assert torch.allclose(adaptive_edge_values(view, rows, cols, 4, pairs), vals)


def test_spmm_multi_equals_dense_products():
    torch.manual_seed(1)
    rows = torch.tensor([0, 0, 1, 2, 3, 3])
    cols = torch.tensor([1, 3, 0, 3, 0, 2])
    vals = torch.rand(6, 2)
    x = torch.randn(4, 5)
    out = spmm_multi(rows, cols, vals, 4, x)
    for k in range(2):
        dense = torch.zeros(4, 4)
        dense[rows, cols] = vals[:, k]
        assert torch.allclose(out[k], dense @ x, atol=1e-6)


def test_one_dccf_layer_matches_dense_reference():
    torch.manual_seed(2)
    train = tiny_train()
    graph = Graph(train)
    nu = 3
    ego = torch.randn(7, 4)
    cu, ci = torch.randn(4, 3), torch.randn(4, 3)
    final, views = dccf_encode(ego, graph, cu, ci, layers=1)

    a = dense_adj(train)
    d = a.sum(1).pow(-0.5)
    z = (d[:, None] * a * d[None, :]) @ ego
    r = torch.cat([torch.softmax(ego[:nu] @ cu, 1) @ cu.T, torch.softmax(ego[nu:] @ ci, 1) @ ci.T])

    def learned(view):
        v = F.normalize(view, dim=1)
        alpha = a * ((v @ v.T) + 1) / 2
        return alpha / alpha.sum(1, keepdim=True)

    hb, hg = learned(z) @ ego, learned(r) @ ego
    for got, want in ((views.local[0], z), (views.intent[0], r), (views.local_adaptive[0], hb),
                      (views.intent_adaptive[0], hg)):
        assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(final, ego + (z + r + hb + hg + ego), atol=1e-5)


def _info_nce_sum(a, b, t):
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    s = a @ b.T / t
    return sum(-s[k, k] + math.log(torch.exp(s[k]).sum()) for k in range(a.shape[0]))


def _views(n, d, layers, seed):
    g = torch.Generator().manual_seed(seed)
    mk = lambda: [torch.randn(n, d, generator=g) for _ in range(layers)]  # noqa: E731
    return DCCFViews(mk(), mk(), mk(), mk())


def test_contrastive_loss_hand_computed_both_item_sets():
    n_users, n_items = 4, 6
    views = _views(n_users + n_items, 3, 2, seed=3)
    users, pos, neg = torch.tensor([0, 2, 2]), torch.tensor([1, 4, 1]), torch.tensor([5, 0, 5])
    t = 0.5

    def expected(items, item_div_by_users):
        uu, ii = torch.tensor([0, 2]), items + n_users
        total = 0.0
        for layer in range(2):
            z = views.local[layer]
            for other in (views.intent, views.local_adaptive, views.intent_adaptive):
                total += _info_nce_sum(z[uu], other[layer][uu], t) / len(uu)
                div = len(uu) if item_div_by_users else len(ii)
                total += _info_nce_sum(z[ii], other[layer][ii], t) / div
        return total

    paper = dccf_contrastive_loss(views, n_users, users, pos, neg, t, "batch")
    assert paper.item() == pytest.approx(float(expected(torch.tensor([0, 1, 4, 5]), False)), rel=1e-5)
    rlmrec = dccf_contrastive_loss(views, n_users, users, pos, neg, t, "positives")
    assert rlmrec.item() == pytest.approx(float(expected(torch.tensor([1, 4]), True)), rel=1e-5)


def test_negative_items_enter_only_the_paper_variant():
    n_users = 4
    views = _views(10, 3, 1, seed=4)
    users, pos, neg = torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([3, 5])
    base = {m: dccf_contrastive_loss(views, n_users, users, pos, neg, 0.2, m) for m in ("batch", "positives")}
    views.intent[0][n_users + 5] += 10.0  # perturb a negative item's intent view only
    after = {m: dccf_contrastive_loss(views, n_users, users, pos, neg, 0.2, m) for m in ("batch", "positives")}
    assert after["batch"] != pytest.approx(base["batch"].item())
    assert after["positives"].item() == pytest.approx(base["positives"].item())


def test_backbone_shapes_gradients_and_option_validation():
    torch.manual_seed(5)
    graph = Graph(tiny_train())
    bb = DCCF(graph, BackboneConfig(dim=8, layers=2, extra={"n_intents": 4}))
    users, items = bb.encode()
    assert users.shape == (3, 8) and items.shape == (4, 8)
    batch = Batch(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([3, 0]))
    out = bb.train_forward(batch, bb.ego())
    out.losses["cl"].backward()
    assert bb.user_intent.grad is not None and bb.user_intent.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="contrastive_items"):
        DCCF(graph, BackboneConfig(dim=8, layers=1, extra={"contrastive_items": "all"}))
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        DCCF(graph, BackboneConfig(dim=8, layers=1, extra={"intent_num": 4}))


@pytest.mark.parametrize("alignment", ["con", "gen"])
def test_dccf_composes_with_alignments(alignment):
    torch.manual_seed(6)
    graph = Graph(tiny_train())
    bb = DCCF(graph, BackboneConfig(dim=8, layers=1, extra={"n_intents": 4}))
    align = build_alignment(alignment, bb, torch.randn(3, 16), torch.randn(4, 16), kd_weight=0.01, kd_temperature=0.2, mask_ratio=0.3, recon_weight=0.1, re_temperature=0.2)
    model = CFModel(bb, align, reg_weight=1e-4)
    loss, parts = model.loss(Batch(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 3]), torch.tensor([2, 3, 0])))
    loss.backward()
    assert {"bpr", "cl", "reg"} <= set(parts) and ({"kd"} <= set(parts) or {"recon"} <= set(parts))
    assert torch.isfinite(loss)


def planted_dataset(seed: int = 0) -> InteractionDataset:
    """Two communities: users 0-19 like items 0-14, users 20-39 like items 15-29 (10 random each)."""
    rng = np.random.default_rng(seed)
    users, items, splits = [], [], []
    for u in range(40):
        pool = np.arange(15) + (0 if u < 20 else 15)
        chosen = rng.choice(pool, 10, replace=False)
        users += [u] * 10
        items += list(chosen)
        splits += ["train"] * 6 + ["valid"] * 2 + ["test"] * 2
    frame = make_interactions(np.array(users), np.array(items), np.array(splits))
    return InteractionDataset("planted", frame, 40, 30, np.arange(40), np.arange(30))


def test_dccf_learns_planted_communities():
    torch.manual_seed(7)
    ds = planted_dataset()
    assert isinstance(ds.interactions, pd.DataFrame)
    bb = DCCF(Graph(ds.train), BackboneConfig(dim=16, layers=2, extra={"n_intents": 8}))
    model = CFModel(bb, NoAlignment(), reg_weight=1e-4)
    res = train_cf(model, ds, CFTrainConfig(epochs=30, batch_size=64, lr=0.01, eval_every=5, patience=10, progress=False,
                                     select_metric="recall@5"), Protocol(ks=(5,), mask_valid_at_test=True))
    # a random ranking of the 22 candidates puts 5/22 ~ 0.23 of the test items in the top 5; ranking the
    # own community (7 candidates, both test items among them) first gives ~5/7 ~ 0.71
    assert res.test.metrics["recall@5"] > 0.45
    assert res.history[-1]["bpr"] < res.history[0]["bpr"]


def test_csr_pattern_products_match_the_gather_path_in_value_and_gradients():
    """The ``torch`` backend's learned-graph products (CSR + SDDMM, custom backward) equal ``spmm_multi``."""
    from lmrec.cf.dccf import pattern_spmm

    torch.manual_seed(0)
    g = Graph(planted_dataset().train)
    adj = g.adj()
    values = torch.rand(adj.nnz, 2, requires_grad=True)
    x = torch.randn(g.n_nodes, 5, requires_grad=True)
    w = torch.randn(2, g.n_nodes, 5)
    out = pattern_spmm(adj, values, x)
    (out * w).sum().backward()
    v2, x2 = values.detach().clone().requires_grad_(True), x.detach().clone().requires_grad_(True)
    ref = spmm_multi(adj.rows, adj.cols, v2, adj.n, x2)
    (ref * w).sum().backward()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(values.grad, v2.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-6)
