"""Every backbone x alignment: shapes, gradients, and learning a planted signal through the one trainer."""

import pytest
import torch

from lmrec.cf import (
    BackboneConfig,
    Batch,
    CFModel,
    CFTrainConfig,
    Graph,
    build_alignment,
    build_backbone,
    train_cf,
)
from lmrec.cf.gccf import GCCF
from lmrec.cf.lightgcn import LightGCN
from lmrec.cf.registry import BACKBONES

from .cf_planted import planted_dataset, planted_profiles

MINE = ("gccf", "lightgcn", "sgl", "simgcl")
EXTRAS = {"gccf": {}, "lightgcn": {"keep_rate": 0.8}, "sgl": {"keep_rate": 0.8, "cl_weight": 0.1, "temperature": 0.2},
          "simgcl": {"cl_weight": 0.1, "temperature": 0.2, "eps": 0.1}}


def _batch(ds, n=16):
    g = Graph(ds.train)
    idx = torch.arange(n) % g.n_train
    return g, Batch(g.train_users[idx], g.train_items[idx], torch.randint(ds.n_items, (n,)))


def test_lightgcn_is_the_sum_of_propagated_layers():
    ds = planted_dataset()
    g = Graph(ds.train)
    bb = LightGCN(g, BackboneConfig(dim=4, layers=2))
    a = g.adj().dense()
    e0 = bb.ego().detach()
    expect = e0 + a @ e0 + a @ a @ e0
    users, items = bb.encode()
    torch.testing.assert_close(torch.cat([users, items]), expect, rtol=1e-5, atol=1e-6)


def test_gccf_concatenates_layers_on_the_self_loop_graph():
    ds = planted_dataset()
    g = Graph(ds.train)
    bb = GCCF(g, BackboneConfig(dim=4, layers=2))
    assert bb.out_dim == 12
    a = g.adj(self_loops=True).dense()
    e0 = bb.ego().detach()
    users, items = bb.encode()
    torch.testing.assert_close(torch.cat([users, items]), torch.cat([e0, a @ e0, a @ a @ e0], 1), rtol=1e-5, atol=1e-6)
    plain = GCCF(g, BackboneConfig(dim=4, layers=1, extra={"self_loops": False}))
    a0 = g.adj().dense()
    torch.testing.assert_close(torch.cat(plain.encode())[:, 4:], a0 @ plain.ego().detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MINE)
@pytest.mark.parametrize("alignment", ["none", "con", "gen"])
def test_every_backbone_composes_with_every_alignment(name, alignment):
    torch.manual_seed(0)
    ds = planted_dataset()
    g, batch = _batch(ds)
    bb = build_backbone(name, g, BackboneConfig(dim=8, layers=2, extra=EXTRAS[name]))
    up, ip = planted_profiles(ds)
    model = CFModel(bb, build_alignment(alignment, bb, up, ip, kd_weight=0.01, kd_temperature=0.2, mask_ratio=0.1, recon_weight=0.1, re_temperature=0.2), reg_weight=1e-4)
    loss, parts = model.loss(batch)
    expected = {"bpr", "reg"} | ({"cl"} if name in ("sgl", "simgcl") else set()) | \
        {"none": set(), "con": {"kd"}, "gen": {"recon"}}[alignment]
    assert set(parts) == expected
    torch.testing.assert_close(loss.detach(), torch.stack(list(parts.values())).sum())
    # L2 over every trainable parameter: the backbone's, the alignment MLPs and the Gen mask token
    squares = sum((p.detach() ** 2).sum() for p in model.parameters() if p.requires_grad)
    torch.testing.assert_close(parts["reg"], 1e-4 * squares)
    loss.backward()
    assert bb.user_emb.grad is not None and bb.user_emb.grad.abs().sum() > 0
    for p in model.alignment.parameters():
        assert p.grad is not None, "alignment parameters must receive gradients"
    users, items = model.embeddings()
    assert users.shape == (ds.n_users, bb.out_dim) and items.shape == (ds.n_items, bb.out_dim)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_propagates_the_layer0_embeddings_it_is_given(name):
    """RLMRec-Gen hands the backbone a masked copy of the layer-0 embeddings: the training view and the clean
    encoding must be computed from that copy, not from the backbone's own tables."""
    torch.manual_seed(0)
    ds = planted_dataset()
    g, batch = _batch(ds)
    bb = build_backbone(name, g, BackboneConfig(dim=8, layers=2, extra=EXTRAS.get(name, {})))
    bb.eval()
    ego = bb.ego().detach()
    masked = ego.clone()
    masked[: ds.n_users // 2] = 0.0  # half of the users masked
    torch.manual_seed(1)
    out_own = bb.train_forward(batch, ego)
    torch.manual_seed(1)
    out_masked = bb.train_forward(batch, masked)
    assert not torch.allclose(out_own.users, out_masked.users)
    assert not torch.allclose(bb.encode(ego)[0], bb.encode(masked)[0])


def test_sgl_contrastive_term_weights_and_clean_bpr():
    torch.manual_seed(0)
    ds = planted_dataset()
    g, batch = _batch(ds)
    off = build_backbone("sgl", g, BackboneConfig(dim=8, layers=2, extra={**EXTRAS["sgl"], "cl_weight": 0.0}))
    out = off.train_forward(batch, off.ego())
    assert out.losses["cl"].item() == 0.0
    # the BPR view is the clean graph: equal to encode()
    torch.testing.assert_close(out.users, off.encode()[0])


def plain_view_nce(a: torch.Tensor, b: torch.Tensor, nodes: torch.Tensor, t: float) -> torch.Tensor:
    """Reference view contrast: cosine logits of each anchor node against every row of the other view."""
    logits = torch.nn.functional.normalize(a[nodes], dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T / t
    return torch.nn.functional.cross_entropy(logits, nodes)


@pytest.mark.parametrize("name", ["sgl", "simgcl"])
def test_view_contrast_covers_the_released_code_anchor_sets(name):
    """SGL contrasts the batch's users, positive and negative items (SSLRec's sgl.py); SimGCL users and positive
    items only (simgcl.py). Views replayed from the same RNG state and contrasted by a plain InfoNCE."""
    torch.manual_seed(0)
    ds = planted_dataset()
    g, batch = _batch(ds)
    assert not torch.equal(batch.pos, batch.neg)
    bb = build_backbone(name, g, BackboneConfig(dim=8, layers=2, extra=EXTRAS[name]))
    p, ego = bb.params, bb.ego()
    torch.manual_seed(5)
    got = bb.train_forward(batch, ego).losses["cl"]
    torch.manual_seed(5)
    views = [bb._forward(ego, p.keep_rate) if name == "sgl" else bb._noisy(ego, p.eps) for _ in range(2)]
    (u1, i1), (u2, i2) = views
    anchors = [(u1, u2, batch.users), (i1, i2, batch.pos)] + ([(i1, i2, batch.neg)] if name == "sgl" else [])
    want = p.cl_weight * sum(plain_view_nce(a, b, nodes, p.temperature) for a, b, nodes in anchors)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_simgcl_views_are_noisy_and_eps_zero_views_are_clean():
    torch.manual_seed(0)
    ds = planted_dataset()
    g = Graph(ds.train)
    bb = build_backbone("simgcl", g, BackboneConfig(dim=8, layers=2, extra={**EXTRAS["simgcl"], "eps": 0.0, "views_include_ego": True}))
    u1, _ = bb._noisy(bb.ego(), 0.0)
    torch.testing.assert_close(u1, bb.encode()[0])
    v1, _ = bb._noisy(bb.ego(), 0.5)
    assert not torch.allclose(v1, u1)
    # each layer's noise has norm eps per row
    bb0 = build_backbone("simgcl", g, BackboneConfig(dim=8, layers=1, extra={"eps": 0.5}))
    noisy, _ = bb0._noisy(bb0.ego(), 0.5)
    clean = (g.adj() @ bb0.ego())[: g.n_users]
    torch.testing.assert_close((noisy - clean).norm(dim=1), torch.full((g.n_users,), 0.5), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", MINE)
def test_trainer_learns_planted_groups(name):
    torch.manual_seed(0)
    ds = planted_dataset()
    extra = {**EXTRAS[name], "cl_weight": 0.02} if name in ("sgl", "simgcl") else EXTRAS[name]
    bb = build_backbone(name, Graph(ds.train), BackboneConfig(dim=16, layers=2, extra=extra))
    model = CFModel(bb, build_alignment("none", bb), reg_weight=1e-6)
    res = train_cf(model, ds, CFTrainConfig(epochs=20, batch_size=128, lr=0.05, eval_every=5, patience=10, progress=False))
    # one held-out item among 24 unseen ones: chance Recall@10 = 10/24 ~ 0.42; the planted group's 9 unseen items
    # fit in the top 10, so a model that learned the groups reaches 1.0
    assert res.test.metrics["recall@10"] > 0.8, res.test.metrics
    assert any("valid_recall@20" in h for h in res.history)


def test_trainer_restores_the_best_validation_state_and_stops_on_patience():
    torch.manual_seed(0)
    ds = planted_dataset()
    bb = build_backbone("lightgcn", Graph(ds.train), BackboneConfig(dim=8, layers=1))
    model = CFModel(bb, build_alignment("none", bb), reg_weight=0.0)
    # a huge learning rate makes validation erratic; whatever happens, the restored state is the best one seen
    res = train_cf(model, ds, CFTrainConfig(epochs=40, batch_size=256, lr=3.0, eval_every=1, patience=2, progress=False))
    vals = [h["valid_recall@20"] for h in res.history]
    assert res.best_epoch == 1 + vals.index(max(vals))
    assert res.valid.metrics["recall@20"] == pytest.approx(max(vals))
    # stopped once `patience` validations in a row did not improve (or ran out of epochs)
    assert res.epochs_run == 40 or res.epochs_run - res.best_epoch == 2
