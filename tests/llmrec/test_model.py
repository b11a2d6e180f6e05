"""LLMRec's recommender: pruned BPR, SCE, propagation of features, augmented triples, reconstruction,
and learning a planted signal through the one CF trainer."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from lmrec.cf import BackboneConfig, Batch, CFModel, CFTrainConfig, Graph, NoAlignment, train_cf
from lmrec.data import InteractionDataset, make_interactions
from lmrec.eval import Protocol
from lmrec.llmrec.model import LLMRecBackbone, LLMRecConfig, pruned_bpr, scaled_cosine_error

R = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32))


def sp_(x):
    return math.log1p(math.exp(x))


def test_pruned_bpr_keeps_lowest_or_highest_loss_share():
    pos, neg = torch.tensor([3.0, 0.0, 1.0]), torch.tensor([0.0, 0.0, 2.0])
    losses = [sp_(-3), math.log(2), sp_(1)]
    assert pruned_bpr(pos, neg, 0.0).item() == pytest.approx(sum(losses) / 3, rel=1e-5)
    assert pruned_bpr(pos, neg, 1 / 3, "low").item() == pytest.approx((losses[0] + losses[1]) / 2, rel=1e-5)
    assert pruned_bpr(pos, neg, 1 / 3, "high").item() == pytest.approx((losses[1] + losses[2]) / 2, rel=1e-5)
    assert pruned_bpr(pos, neg, 0.99, "low").item() == pytest.approx(losses[0], rel=1e-5)  # keeps >= 1


def test_drop_rate_warms_up_linearly_over_epochs():
    b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), LLMRecConfig(recon_weight=0.0, drop_rate=0.2, prune_warmup_epochs=4))
    assert [b.drop_rate_at(epoch) for epoch in range(6)] == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.2])
    plain = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), LLMRecConfig(recon_weight=0.0, drop_rate=0.2))
    assert plain.drop_rate_at(0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="prune_warmup_epochs"):
        LLMRecConfig(recon_weight=0.0, prune_warmup_epochs=-1)


def test_scaled_cosine_error_values():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert scaled_cosine_error(x * 3, x).item() == pytest.approx(0.0, abs=1e-6)
    assert scaled_cosine_error(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]), 2.0).item() == pytest.approx(1.0)
    assert scaled_cosine_error(-x, x, 3.0).item() == pytest.approx(8.0)


def dense_parts(train):
    r = train.toarray()
    du, di = r.sum(1), r.sum(0)
    rn = r / np.sqrt(du)[:, None] / np.sqrt(di)[None, :]
    return torch.tensor(rn, dtype=torch.float32)


def test_plain_backbone_is_lightgcn_mean_of_layers():
    torch.manual_seed(0)
    b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=2))
    rn = dense_parts(R)
    u0, i0 = b.user_emb.detach(), b.item_emb.detach()
    u1, i1 = rn @ i0, rn.T @ u0
    u2, i2 = rn @ i1, rn.T @ u1
    users, items = b.encode()
    torch.testing.assert_close(users, (u0 + u1 + u2) / 3, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(items, (i0 + i1 + i2) / 3, atol=1e-5, rtol=1e-5)


def test_features_are_projected_propagated_and_fused_with_their_weights():
    torch.manual_seed(0)
    xi, xu = torch.randn(4, 5), torch.randn(3, 6)
    cfg = LLMRecConfig(recon_weight=0.0, weights={"text": 0.5, "profile": 2.0, "attribute": 0.0})
    b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), cfg, user_feats={"profile": xu},
                       item_feats={"text": xi}, item_families={"text": "text"})
    rn = dense_parts(R)
    fi = b.proj["i_text"](xi).detach()
    fu = b.proj["u_profile"](xu).detach()
    ids_u, ids_i = b.graph.split(torch.stack(b.propagate_layers(b.graph.adj(), b.ego())).mean(0))
    exp_u = ids_u + 0.5 * F.normalize(rn @ fi, dim=1) + 2.0 * F.normalize(rn @ (rn.T @ fu), dim=1)
    exp_i = ids_i + 0.5 * F.normalize(rn.T @ (rn @ fi), dim=1) + 2.0 * F.normalize(rn.T @ fu, dim=1)
    users, items = b.encode()
    torch.testing.assert_close(users, exp_u.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(items, exp_i.detach(), atol=1e-5, rtol=1e-5)


def test_augmented_triples_are_appended_for_users_with_a_pair():
    aug = (np.array([3, -1, 0]), np.array([2, -1, 1]))
    b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), LLMRecConfig(recon_weight=0.0, aug_sample_rate=1.0), aug_pairs=aug)
    batch = Batch(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 3, 0]))
    b.on_step_start(batch)
    assert len(batch) == 5
    added = sorted(zip(batch.users[3:].tolist(), batch.pos[3:].tolist(), batch.neg[3:].tolist()))
    assert added == [(0, 3, 2), (2, 0, 1)]
    off = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), LLMRecConfig(recon_weight=0.0, aug_sample_rate=0.0), aug_pairs=aug)
    batch = Batch(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 3, 0]))
    off.on_step_start(batch)
    assert len(batch) == 3


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="shape"):
        LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), user_feats={"profile": np.zeros((5, 3))})
    with pytest.raises(ValueError, match="aug_pairs"):
        LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), aug_pairs=(np.array([9, 0, 0]), np.array([1, 1, 1])))
    with pytest.raises(ValueError, match="prune_keep"):
        LLMRecConfig(recon_weight=0.0, prune_keep="middle")


def test_masked_reconstruction_trains_its_decoder_and_mask_token():
    torch.manual_seed(0)
    xu, xi = torch.randn(3, 8), torch.randn(4, 8)
    cfg = LLMRecConfig(mask_rate=0.5, recon_weight=1.0, drop_rate=0.0)
    b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), cfg, user_feats={"profile": xu},
                       item_feats={"director": xi})
    model = CFModel(b, NoAlignment(), reg_weight=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    before = {k: v.clone() for k, v in b.decoders.state_dict().items()}
    token_before = b.mask_tokens["u_profile"].detach().clone()
    batch = Batch(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 3, 0]))
    first = last = None
    for step in range(60):
        torch.manual_seed(step % 3)  # same masks recur, so the loss can go down
        loss, parts = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = parts["recon"].item() if first is None else first
        last = parts["recon"].item()
    assert any(not torch.equal(before[k], v) for k, v in b.decoders.state_dict().items())
    assert not torch.equal(token_before, b.mask_tokens["u_profile"].detach())
    assert last < first * 0.8


def planted_dataset(n_users=40, n_items=30, seed=0):
    """Two communities: users 0-19 like items 0-14, users 20-39 items 15-29; one held-out item each."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        lo = 0 if u < n_users // 2 else n_items // 2
        items = rng.choice(np.arange(lo, lo + n_items // 2), 8, replace=False)
        rows += [(u, int(i), s) for i, s in zip(items, ["train"] * 6 + ["valid", "test"])]
    u, i, s = map(np.array, zip(*rows))
    inter = make_interactions(u, i, s.astype(object), timestamp=np.arange(len(u), dtype=float))
    return InteractionDataset("planted", inter, n_users, n_items, np.arange(n_users).astype(str),
                              np.arange(n_items).astype(str))


@pytest.mark.slow
def test_learns_a_planted_signal_through_the_cf_trainer():
    torch.manual_seed(0)
    ds = planted_dataset()
    b = LLMRecBackbone(Graph(ds.train), BackboneConfig(dim=16, layers=2), LLMRecConfig(recon_weight=0.0, drop_rate=0.1))
    res = train_cf(CFModel(b, NoAlignment(), reg_weight=1e-6), ds,
              CFTrainConfig(epochs=40, batch_size=64, lr=0.02, eval_every=5, patience=10, progress=False,
                          select_metric="recall@5"),
              Protocol(ks=(5,)))
    # chance: ~5 / 24 unseen items hold the one target at random -> recall@5 about 0.2; in-community ~0.55
    assert res.test.metrics["recall@5"] > 0.4


@pytest.mark.slow
def test_augmented_pairs_carry_signal_the_plain_model_lacks():
    """Users with no training signal towards their held-out item learn it from LLM pairs alone."""
    ds = planted_dataset()
    test = ds.test.tocoo()
    target = np.full(ds.n_users, -1)
    target[test.row] = test.col
    valid = ds.valid.tocoo()
    other = np.full(ds.n_users, -1)
    other[valid.row] = valid.col  # an in-community item the pair ranks below the target
    scores = {}
    for name, aug in (("plain", None), ("aug", (target, other))):
        torch.manual_seed(0)
        b = LLMRecBackbone(Graph(ds.train), BackboneConfig(dim=16, layers=2),
                           LLMRecConfig(recon_weight=0.0, drop_rate=0.0, aug_sample_rate=1.0), aug_pairs=aug)
        res = train_cf(CFModel(b, NoAlignment(), reg_weight=1e-6), ds,
                  CFTrainConfig(epochs=20, batch_size=64, lr=0.02, eval_every=20, patience=5, progress=False,
                              select_metric="recall@1"),
                  Protocol(ks=(1,)))
        scores[name] = res.test.metrics["recall@1"]
    assert scores["aug"] > scores["plain"] + 0.3, scores


def test_masks_only_nodes_that_have_the_augmented_feature():
    xu = torch.zeros(3, 4)
    xu[1] = 1.0  # only user 1 was profiled
    b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), LLMRecConfig(mask_rate=0.9, recon_weight=1.0),
                       user_feats={"profile": xu})
    for _ in range(5):
        assert b.sample_mask()["u_profile"].tolist() == [1]


def _feature_backbone(cfg, bias=0.3):
    """Users 0 and 2 have a profile, user 1's failed (zero row); two attributes and a text feature on items."""
    torch.manual_seed(0)
    xu = torch.randn(3, 5)
    xu[1] = 0.0
    xd, xc, xt = torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 7)
    b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), cfg, user_feats={"profile": xu},
                       item_feats={"director": xd, "country": xc, "text": xt},
                       item_families={"director": "attribute", "country": "attribute", "text": "text"})
    for proj in b.proj.values():  # biases as after training (they start at zero)
        proj.bias.data.fill_(bias)
    return b, xu, {"director": xd, "country": xc, "text": xt}


def _bpr_terms(fu, fi, users, pos, neg):
    return F.softplus((fu[users] * fi[neg]).sum(1) - (fu[users] * fi[pos]).sum(1))


def test_feature_bpr_is_the_released_profile_vs_attribute_and_content_terms():
    """aug_bpr: profile (user side, two hops) against each attribute (item side, two hops), summed; mm_bpr: the
    text feature's user side (one hop) against its item side (two hops); users without a profile left out."""
    cfg = LLMRecConfig(recon_weight=0.0, drop_rate=0.0, aug_bpr_weight=1.0, mm_bpr_weight=1.0)
    b, xu, xi = _feature_backbone(cfg)
    rn = dense_parts(R)
    with torch.no_grad():
        fp = b.proj["u_profile"](xu) * torch.tensor([1.0, 0.0, 1.0])[:, None]  # the failed profile is no feature
        prof_u = rn @ (rn.T @ fp)
        item_side = {k: rn.T @ (rn @ b.proj[f"i_{k}"](x)) for k, x in xi.items()}
        text_u = rn @ b.proj["i_text"](xi["text"])
        users, pos, neg = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 1, 2, 1]), torch.tensor([3, 3, 0, 2])
        has = torch.tensor([True, False, True, True])
        exp_aug = sum(_bpr_terms(prof_u, item_side[a], users, pos, neg)[has].mean() for a in ("director", "country"))
        exp_mm = _bpr_terms(text_u, item_side["text"], users, pos, neg).mean()
        got = b.feature_bpr(b._features({}), Batch(users, pos, neg))
    assert got["aug_bpr"].item() == pytest.approx(exp_aug.item(), rel=1e-5)
    assert got["mm_bpr"].item() == pytest.approx(exp_mm.item(), rel=1e-5)
    # the pairing that was wrong before ("each feature with itself"): not what the released term is
    self_paired = sum(_bpr_terms(rn @ b.proj[f"i_{a}"](xi[a]), item_side[a], users, pos, neg).mean()
                      for a in ("director", "country")).item()
    assert abs(self_paired - exp_aug.item()) > 1e-3
    # a user without a profile is left out: the loss equals the loss over the other users' triples alone
    with torch.no_grad():
        keep = b.feature_bpr(b._features({}), Batch(users[has], pos[has], neg[has]))
    assert got["aug_bpr"].item() == pytest.approx(keep["aug_bpr"].item(), rel=1e-6)
    assert not torch.isclose(got["aug_bpr"], sum(_bpr_terms(prof_u, item_side[a], users, pos, neg).mean()
                                                 for a in ("director", "country")))


def test_feature_bpr_weights_and_pruning_follow_the_config():
    b, _, _ = _feature_backbone(LLMRecConfig(recon_weight=0.0, drop_rate=0.0, aug_bpr_weight=0.012, mm_bpr_weight=1e-4))
    users, pos, neg = torch.tensor([0, 2, 0, 2]), torch.tensor([0, 2, 1, 3]), torch.tensor([3, 0, 2, 1])
    with torch.no_grad():
        feats = b._features({})
        got = b.feature_bpr(feats, Batch(users, pos, neg))
        b.cfg.aug_bpr_weight = b.cfg.mm_bpr_weight = 1.0
        unit = b.feature_bpr(feats, Batch(users, pos, neg))
        b.cfg.drop_rate, b.cfg.prune_keep = 0.5, "high"
        pruned = b.feature_bpr(feats, Batch(users, pos, neg))
        fu, fi = feats["i_text"]
        exp = torch.topk(_bpr_terms(fu, fi, users, pos, neg), 2).values.mean()
    assert got["aug_bpr"].item() == pytest.approx(0.012 * unit["aug_bpr"].item(), rel=1e-5)
    assert got["mm_bpr"].item() == pytest.approx(1e-4 * unit["mm_bpr"].item(), rel=1e-5)
    assert pruned["mm_bpr"].item() == pytest.approx(exp.item(), rel=1e-5)
    off = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), LLMRecConfig(recon_weight=0.0, aug_bpr_weight=0, mm_bpr_weight=0))
    assert off.feature_bpr({}, Batch(users, pos, neg)) == {}


def test_a_failed_profile_is_not_fed_to_the_model():
    """The failed user's zero row projects to zero (not the bias), so what reaches the fused embeddings is
    the other users' profiles only; the mean mask token is the mean of real profiles."""
    cfg = LLMRecConfig(recon_weight=0.0, weights={"text": 0.0, "profile": 1.0, "attribute": 0.0}, mask_token="mean")
    b, xu, _ = _feature_backbone(cfg)
    rn = dense_parts(R)
    with torch.no_grad():
        fp = b.proj["u_profile"](xu) * torch.tensor([1.0, 0.0, 1.0])[:, None]
        ids_u, ids_i = b.graph.split(torch.stack(b.propagate_layers(b.graph.adj(), b.ego())).mean(0))
        users, items = b.encode()
    torch.testing.assert_close(users, ids_u + F.normalize(rn @ (rn.T @ fp), dim=1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(items, ids_i + F.normalize(rn.T @ fp, dim=1), atol=1e-5, rtol=1e-5)
    assert b.coverage()["u_profile"] == (2, 3)
    token = b._input("u_profile", torch.tensor([0]))[0]
    torch.testing.assert_close(token, (xu[0] + xu[2]) / 2)


def test_named_pruning_rules_keep_the_stated_end():
    """released: the highest-loss 29 % from the first epoch (HKUDS/LLMRec prune_loss, drop 0.71); low_warmup:
    the lowest-loss 90 % once the 20-epoch ramp is done."""
    from lmrec.llmrec.model import prune_settings
    from lmrec.llmrec.pipeline import variant_config

    pos, neg = torch.zeros(100), torch.linspace(-3, 3, 100)
    losses = F.softplus(neg - pos).sort().values
    for mode, epoch, expect in (("released", 0, losses[-29:].mean()), ("low_warmup", 20, losses[:90].mean()),
                                ("low_warmup", 0, losses.mean()), ("none", 5, losses.mean())):
        b = LLMRecBackbone(Graph(R), BackboneConfig(dim=4, layers=1), LLMRecConfig(recon_weight=0.0, **prune_settings(mode)))
        assert pruned_bpr(pos, neg, b.drop_rate_at(epoch), b.cfg.prune_keep).item() == pytest.approx(expect.item(), rel=1e-5)
    with pytest.raises(ValueError, match="PRUNE"):
        prune_settings("middle")
    base = LLMRecConfig(recon_weight=0.0, **prune_settings("released"))
    assert variant_config("prune_low", base).prune_keep == "low" and variant_config("full", base).prune_keep == "high"
    assert variant_config("wo_prune", base).drop_rate == 0.0


def test_coverage_caption_states_the_profiled_share():
    from lmrec.llmrec.pipeline import Augmentation, coverage_caption

    aug = Augmentation(np.array([1, -1, 2]), np.array([0, -1, 1]), np.zeros((3, 2)), np.arange(3), {0: {}}, {},
                       {}, summary={"users_with_profile": 78.0, "profiles_n": 128.0, "items_with_attributes": 1445.0,
                                    "users_with_pair": 940.0})
    text = coverage_caption(aug, 942, 1447)
    assert "LLM profiles for 78 of 942 users (8%; 128 asked, 50 failed" in text
    assert "attributes for 1445 of 1447 items" in text and "pairs for 940 users" in text
    assert coverage_caption(None, 942, 1447) == ""
