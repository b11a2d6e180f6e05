"""BPR, L2 and InfoNCE against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from lmrec.cf.losses import bpr_loss, info_nce, info_nce_nodes, l2_reg


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


@pytest.mark.parametrize("chunk", [1, 7, 1 << 21])
@pytest.mark.parametrize("t", [0.3, 0.005])  # 0.005: logits up to 200, the row-max-shifted path
def test_info_nce_over_unique_nodes_equals_the_plain_computation(chunk, t):
    """Same value and gradients as the per-row formula over every (repeated) node of the batch, whatever the
    block size of the one-pass log-sum-exp."""
    torch.manual_seed(0)
    va, vb = torch.randn(9, 4, requires_grad=True), torch.randn(9, 4, requires_grad=True)
    nodes = torch.tensor([3, 3, 3, 0, 8, 8, 1])  # repeats: each counts once per occurrence
    an, bn = F.normalize(va[nodes], dim=-1), F.normalize(vb, dim=-1)
    plain = (torch.logsumexp(an @ bn.T / t, 1) - (an * bn[nodes]).sum(-1) / t).mean()
    got = info_nce_nodes(va, vb, nodes, t, chunk_elements=chunk)
    torch.testing.assert_close(got, plain)
    ga = torch.autograd.grad(plain, [va, vb])
    gb = torch.autograd.grad(got, [va, vb])
    tol = {"rtol": 1e-5, "atol": 1e-6 / t}  # float32 rounding grows with the logits' scale 1/t
    torch.testing.assert_close(gb[0], ga[0], **tol)
    torch.testing.assert_close(gb[1], ga[1], **tol)
    assert torch.autograd.gradcheck(lambda x, y: info_nce_nodes(x, y, nodes, t, chunk_elements=chunk),
                                    (va.detach().double().requires_grad_(), vb.detach().double().requires_grad_()))
