"""RLMRec-Con and RLMRec-Gen: the formulas, the masking, and that alignment moves CF embeddings to profiles."""

import pytest
import torch

from lmrec.cf import BackboneConfig, Batch, CFModel, Graph, TrainOutput, build_alignment, build_backbone
from lmrec.cf.alignment import ContrastiveAlignment, GenerativeAlignment
from lmrec.cf.losses import info_nce

from .cf_planted import planted_dataset, planted_profiles


def test_con_loss_is_rlmrec_three_term_infonce():
    torch.manual_seed(0)
    up, ip = torch.randn(5, 6), torch.randn(7, 6)
    al = ContrastiveAlignment(up, ip, cf_dim=4, kd_weight=0.5, kd_temperature=0.3)
    out = TrainOutput(torch.randn(5, 4), torch.randn(7, 4))
    b = Batch(torch.tensor([0, 2, 4]), torch.tensor([1, 3, 5]), torch.tensor([6, 0, 2]))
    mu, mi = al.mlp(up), al.mlp(ip)
    expect = 0.5 * (info_nce(out.users[b.users], mu[b.users], mu, 0.3)
                    + info_nce(out.items[b.pos], mi[b.pos], mi[b.pos], 0.3)
                    + info_nce(out.items[b.neg], mi[b.neg], mi[b.neg], 0.3))
    torch.testing.assert_close(al.loss(out, b, None)["kd"], expect)
    assert al.mlp[0].in_features == 6 and al.mlp[0].out_features == 5 and al.mlp[-1].out_features == 4


def test_gen_masks_the_ratio_with_the_token_and_reconstructs_masked_nodes():
    torch.manual_seed(0)
    up, ip = torch.randn(6, 5), torch.randn(14, 5)
    al = GenerativeAlignment(up, ip, ego_dim=3, cf_dim=9, mask_ratio=0.25, recon_weight=2.0, re_temperature=0.5)
    with torch.no_grad():
        al.mask_token.fill_(7.0)
    ego = torch.randn(20, 3)
    masked, seeds = al.prepare(ego)
    assert seeds.numel() == 5 and seeds.unique().numel() == 5
    rows = torch.zeros(20, dtype=torch.bool)
    rows[seeds] = True
    assert torch.all(masked[rows] == 7.0) and torch.equal(masked[~rows], ego[~rows])
    out = TrainOutput(torch.randn(6, 9), torch.randn(14, 9))
    nodes = torch.cat([out.users, out.items])[seeds]
    expect = 2.0 * info_nce(al.mlp(nodes), torch.cat([up, ip])[seeds], temperature=0.5)
    torch.testing.assert_close(al.loss(out, Batch(*(torch.zeros(1, dtype=torch.long),) * 3), seeds)["recon"], expect)


def test_profiles_of_another_dataset_are_rejected():
    ds = planted_dataset()
    bb = build_backbone("lightgcn", Graph(ds.train), BackboneConfig(dim=4, layers=1))
    with pytest.raises(ValueError, match="another"):
        build_alignment("con", bb, torch.randn(3, 4), torch.randn(ds.n_items, 4))
    with pytest.raises(ValueError, match="choose one of"):
        build_alignment("kd", bb)


def _group_separation(users: torch.Tensor) -> float:
    """Mean cosine within user groups minus across groups (groups = id parity)."""
    z = torch.nn.functional.normalize(users, dim=-1)
    s = z @ z.T
    same = (torch.arange(len(z))[:, None] % 2) == (torch.arange(len(z))[None, :] % 2)
    return float(s[same].mean() - s[~same].mean())


@pytest.mark.slow
@pytest.mark.parametrize("alignment", ["con", "gen"])
def test_alignment_alone_pulls_cf_embeddings_towards_the_profile_structure(alignment):
    """With BPR switched off (no positives to learn from), only the alignment term can make users of the same
    planted profile group similar: separation must grow from ~0."""
    torch.manual_seed(0)
    ds = planted_dataset()
    g = Graph(ds.train)
    # Con acts on every node's own embedding (no propagation needed); Gen reconstructs masked nodes from their
    # neighbours, so it needs a propagation layer
    bb = build_backbone("lightgcn", g, BackboneConfig(dim=8, layers=0 if alignment == "con" else 1))
    up, ip = planted_profiles(ds)
    al = build_alignment(alignment, bb, up, ip, kd_weight=1.0, kd_temperature=0.2, mask_ratio=0.5,
                         recon_weight=1.0, re_temperature=0.2)
    model = CFModel(bb, al, reg_weight=0.0)  # parameters of both, for the optimiser
    before = _group_separation(bb.encode()[0].detach())
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    users = torch.arange(ds.n_users)
    for _ in range(100):
        b = Batch(users, torch.zeros_like(users), torch.zeros_like(users))
        opt.zero_grad()
        ego, state = al.prepare(bb.ego())
        out = bb.train_forward(b, ego)
        loss = sum(al.loss(out, b, state).values())
        loss.backward()
        opt.step()
    after = _group_separation(bb.encode()[0].detach())
    assert after > before + 0.1, (before, after)


def _infonce_by_hand(anchors, positives, candidates, t):
    """mean_k [ -cos(a_k, p_k)/t + log sum_j exp(cos(a_k, c_j)/t) ], written out."""
    total = 0.0
    for a, p in zip(anchors, positives):
        cos = lambda x, y: float((x @ y) / (x.norm() * y.norm()))  # noqa: E731
        total += -cos(a, p) / t + float(torch.logsumexp(torch.tensor([cos(a, c) / t for c in candidates]), 0))
    return total / len(anchors)


def test_con_leaves_failed_profiles_out_of_every_term():
    torch.manual_seed(0)
    up, ip = torch.randn(5, 6), torch.randn(7, 6)
    user_ok = torch.tensor([True, False, True, True, False])
    item_ok = torch.tensor([True, True, False, True, True, True, True])
    al = ContrastiveAlignment(up, ip, cf_dim=4, kd_weight=0.5, kd_temperature=0.3, user_mask=user_ok,
                              item_mask=item_ok)
    out = TrainOutput(torch.randn(5, 4), torch.randn(7, 4))
    b = Batch(torch.tensor([0, 1, 2, 4]), torch.tensor([1, 2, 5, 3]), torch.tensor([6, 0, 2, 4]))
    with torch.no_grad():
        mu, mi = al.mlp(up), al.mlp(ip)
        got = al.loss(out, b, None)["kd"].item()
        # by hand, over the rows with a profile only: users 0, 2 (candidates: users 0, 2, 3); pos items 1, 5, 3;
        # neg items 6, 0, 4
        users, cands = [0, 2], [0, 2, 3]
        expect = 0.5 * (_infonce_by_hand(out.users[users], mu[users], mu[cands], 0.3)
                        + _infonce_by_hand(out.items[[1, 5, 3]], mi[[1, 5, 3]], mi[[1, 5, 3]], 0.3)
                        + _infonce_by_hand(out.items[[6, 0, 4]], mi[[6, 0, 4]], mi[[6, 0, 4]], 0.3))
        # the same batch restricted to its users with a profile gives the same user term
        only = al.loss(out, Batch(torch.tensor([0, 2]), torch.tensor([1, 5, 3]), torch.tensor([6, 0, 4])), None)
        unmasked = ContrastiveAlignment(up, ip, cf_dim=4, kd_weight=0.5, kd_temperature=0.3)
        unmasked.mlp.load_state_dict(al.mlp.state_dict())
        ignored = unmasked.loss(out, b, None)["kd"].item()
    assert got == pytest.approx(expect, rel=1e-5)
    assert only["kd"].item() == pytest.approx(expect, rel=1e-5)
    assert abs(ignored - expect) > 1e-3  # the mask matters for this batch
    assert al.coverage() == (3, 5, 6, 7)


def test_gen_reconstructs_only_masked_nodes_that_have_a_profile():
    torch.manual_seed(0)
    up, ip = torch.randn(4, 5), torch.randn(6, 5)
    ok_u, ok_i = torch.tensor([True, False, True, True]), torch.tensor([True, True, True, False, True, True])
    al = GenerativeAlignment(up, ip, ego_dim=3, cf_dim=8, mask_ratio=0.5, recon_weight=2.0, re_temperature=0.5,
                             user_mask=ok_u, item_mask=ok_i)
    out = TrainOutput(torch.randn(4, 8), torch.randn(6, 8))
    seeds = torch.tensor([1, 2, 7, 5, 0])  # node 1 (user 1) and node 7 (item 3) have no profile
    kept = [2, 5, 0]
    with torch.no_grad():
        nodes, prof = torch.cat([out.users, out.items]), torch.cat([up, ip])
        got = al.loss(out, Batch(*(torch.zeros(1, dtype=torch.long),) * 3), seeds)["recon"].item()
        mapped = al.mlp(nodes[kept])
        expect = 2.0 * _infonce_by_hand(mapped, prof[kept], prof[kept], 0.5)
        ignored = 2.0 * _infonce_by_hand(al.mlp(nodes[seeds]), prof[seeds], prof[seeds], 0.5)
    assert got == pytest.approx(expect, rel=1e-5)
    assert abs(ignored - expect) > 1e-3
    assert al.coverage() == (3, 4, 5, 6)
    empty = al.loss(out, Batch(*(torch.zeros(1, dtype=torch.long),) * 3), torch.tensor([1, 7]))["recon"]
    assert empty.item() == 0.0
