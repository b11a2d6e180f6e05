"""Each switch that reproduces RLMRec's released code, against an independent computation of both settings."""

import math

import pytest
import torch
import torch.nn.functional as F

from lmrec.cf import BackboneConfig, Batch, Graph, TrainOutput, build_alignment, build_backbone

from .cf_planted import planted_dataset, planted_profiles


def _graph():
    return Graph(planted_dataset().train)


@pytest.mark.parametrize("include_ego", [False, True])
def test_simgcl_views_with_and_without_the_layer0_embeddings(include_ego):
    g = _graph()
    bb = build_backbone("simgcl", g, BackboneConfig(dim=6, layers=2, extra={"views_include_ego": include_ego}))
    e0 = bb.ego().detach()
    torch.manual_seed(5)
    users, items = bb._noisy(e0, 0.3)
    # independent: dense A, the same uniform draws (one per layer, in order), E^(0) summed in only for RLMRec
    a = g.adj().dense()
    torch.manual_seed(5)
    x, total = e0, e0.clone() if include_ego else torch.zeros_like(e0)
    for _ in range(2):
        x = a @ x
        u = torch.rand_like(x)
        x = x + 0.3 * u / u.norm(dim=1, keepdim=True) * torch.sign(x)
        total = total + x
    torch.testing.assert_close(torch.cat([users, items]), total, rtol=1e-5, atol=1e-6)


def test_lightgcn_entry_dropout_propagates_an_asymmetric_graph():
    g = _graph()
    extra = {"keep_rate": 0.6, "edge_drop": "entries"}
    bb = build_backbone("lightgcn", g, BackboneConfig(dim=5, layers=2, extra=extra))
    batch = Batch(g.train_users[:4], g.train_items[:4], g.train_items[4:8])
    torch.manual_seed(7)
    out = bb.train_forward(batch, bb.ego())
    torch.manual_seed(7)
    keep = torch.rand(g.adj().nnz) < 0.6  # one draw per adjacency entry
    full = g.adj()
    a = torch.zeros(g.n_nodes, g.n_nodes)
    a[full.rows[keep], full.cols[keep]] = full.vals[keep]
    assert not torch.equal(a != 0, (a != 0).T)
    e0 = bb.ego().detach()
    expect = e0 + a @ e0 + a @ (a @ e0)
    torch.testing.assert_close(torch.cat([out.users, out.items]).detach(), expect, rtol=1e-5, atol=1e-6)
    # edges mode: the same rate, but symmetric
    sym = build_backbone("lightgcn", g, BackboneConfig(dim=5, layers=1, extra={"keep_rate": 0.6}))
    torch.manual_seed(7)
    d = g.adj().drop_edges(0.6, unit=sym.params.edge_drop).dense()
    torch.testing.assert_close(d, d.T)


def _cos_infonce(a, b, cands, t):
    """-log softmax over cosine / t of the positive, one row at a time (no shared code with lmrec)."""
    total = 0.0
    for k in range(a.shape[0]):
        sims = [float(F.cosine_similarity(a[k], c, dim=0)) / t for c in cands[k]]
        pos = float(F.cosine_similarity(a[k], b[k], dim=0)) / t
        total += math.log(sum(math.exp(s) for s in sims)) - pos
    return total / a.shape[0]


@pytest.mark.parametrize("negatives", [True, False])
def test_autocf_con_aligns_negatives_only_when_asked(negatives):
    torch.manual_seed(0)
    ds = planted_dataset()
    g = Graph(ds.train)
    bb = build_backbone("autocf", g, BackboneConfig(dim=8, layers=1, extra={"con_negatives": negatives, "seed_num": 5}))
    up, ip = planted_profiles(ds)
    al = build_alignment("con", bb, up, ip, kd_weight=0.5, kd_temperature=0.4)
    assert al.negatives is negatives
    out = TrainOutput(torch.randn(ds.n_users, 8), torch.randn(ds.n_items, 8))
    b = Batch(torch.tensor([0, 3, 3, 9]), torch.tensor([1, 2, 5, 5]), torch.tensor([7, 8, 0, 1]))
    with torch.no_grad():
        mu, mi = al.mlp(al.user_prof), al.mlp(al.item_prof)
        expect = (_cos_infonce(out.users[b.users], mu[b.users], [mu] * 4, 0.4)
                  + _cos_infonce(out.items[b.pos], mi[b.pos], [mi[b.pos]] * 4, 0.4))
        if negatives:
            expect += _cos_infonce(out.items[b.neg], mi[b.neg], [mi[b.neg]] * 4, 0.4)
        got = al.loss(out, b, None)["kd"].item()
    assert got == pytest.approx(0.5 * expect, rel=1e-5)
