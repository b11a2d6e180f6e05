"""BPR, L2 and InfoNCE against hand-computed values."""

import math

import torch
import torch.nn.functional as F

from lmrec.cf.losses import bpr_loss, info_nce, l2_reg


def test_bpr_hand_computed():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[0.0, 5.0], [0.0, 3.0]])
    # scores: pos 2, 2; neg 0, 6 -> -log sigmoid(2), -log sigmoid(-4)
    expect = (-math.log(1 / (1 + math.exp(-2))) - math.log(1 / (1 + math.exp(4)))) / 2
    assert abs(bpr_loss(a, p, n).item() - expect) < 1e-6


def test_l2_is_sum_of_squares():
    assert l2_reg([torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]).item() == 14.0


def test_info_nce_matches_cross_entropy_over_cosines():
    torch.manual_seed(0)
    a, b, c = torch.randn(6, 4), torch.randn(6, 4), torch.randn(10, 4)
    t = 0.3
    # in-batch: the positive of row k is column k
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / t
    ref = F.cross_entropy(logits, torch.arange(6))
    torch.testing.assert_close(info_nce(a, b, temperature=t), ref)
    # explicit candidates: -s(a,b)/t + logsumexp over candidates
    cand = F.normalize(a, dim=-1) @ F.normalize(c, dim=-1).T / t
    pos = (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1) / t
    torch.testing.assert_close(info_nce(a, b, c, t), (torch.logsumexp(cand, 1) - pos).mean())
    # positive among the candidates: the fused path equals the general formula
    idx = torch.tensor([3, 0, 7, 7, 1, 9])
    torch.testing.assert_close(info_nce(a, c[idx], c, t, positive_index=idx), info_nce(a, c[idx], c, t))
    # explicit candidates equal to b: same as in-batch
    torch.testing.assert_close(info_nce(a, b, b, t), info_nce(a, b, temperature=t))


def test_info_nce_is_low_for_aligned_pairs():
    x = torch.eye(5)
    assert info_nce(x, x, temperature=0.1) < info_nce(x, x.roll(1, 0), temperature=0.1)
