"""The losses graph CF shares, written once: BPR, L2 regularisation, InfoNCE.

Conventions follow RLMRec/SSLRec's ``loss_utils`` (the code the RLMRec numbers come from): BPR and
InfoNCE are summed over the batch then divided by the batch size (i.e. a mean), and the L2 term is
the squared Frobenius norm of every trainable parameter, multiplied by ``reg_weight`` by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F


def bpr_loss(anchor: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``mean(-log sigmoid(<a,p> - <a,n>))`` = ``mean(softplus(<a,n> - <a,p>))``."""
    return F.softplus((anchor * neg).sum(-1) - (anchor * pos).sum(-1)).mean()


def l2_reg(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """``sum_W ||W||_2^2`` over the given tensors (RLMRec's ``reg_params``: all parameters of the model)."""
    total = None
    for p in params:
        term = p.square().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l2_reg got no parameters")
    return total


def info_nce(a: torch.Tensor, b: torch.Tensor, candidates: torch.Tensor | None = None,
             temperature: float = 1.0, positive_index: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE with cosine similarity, averaged over rows of ``a``.

    Row ``k`` of ``a`` is pulled towards row ``k`` of ``b`` and pushed from every row of ``candidates``
    (default: ``b`` itself, i.e. in-batch negatives):  ``-s(a_k, b_k)/t + log sum_j exp(s(a_k, c_j)/t)``.
    When ``b`` is ``candidates[positive_index]`` (the positive is one of the candidates, e.g. a batch's users
    against all users), pass ``positive_index`` to reuse the normalised candidates. The log-sum-exp runs in
    row blocks with its gradient taken in the same pass (:class:`_WeightedLogSumExp`).
    """
    a = F.normalize(a, dim=-1, eps=1e-8) / temperature
    if candidates is None:
        c = pos_rows = F.normalize(b, dim=-1, eps=1e-8)
    else:
        c = F.normalize(candidates, dim=-1, eps=1e-8)
        pos_rows = c[positive_index] if positive_index is not None else F.normalize(b, dim=-1, eps=1e-8)
    weight = torch.full((a.shape[0],), 1.0 / max(1, a.shape[0]), dtype=a.dtype, device=a.device)
    return _lse(a, c, weight, temperature) - (a * pos_rows).sum(-1).mean()


def _lse(a: torch.Tensor, c: torch.Tensor, weight: torch.Tensor, temperature: float,
         chunk_elements: int = 1 << 21) -> torch.Tensor:
    return weighted_logsumexp(a, c, weight, 1.0 / temperature, chunk_elements)


def weighted_logsumexp(a: torch.Tensor, c: torch.Tensor, weight: torch.Tensor, bound: float = float("inf"),
                       chunk_elements: int = 1 << 21) -> torch.Tensor:
    """``sum_k weight_k * log sum_j exp(a_k . c_j)`` without a ``[len(a), len(c)]`` buffer (row blocks of about
    ``chunk_elements`` logits, value and gradients in one pass). ``bound``: a bound on ``|a_k . c_j|`` (e.g.
    ``1/t`` for unit rows over a temperature); unbounded logits are shifted by each row's maximum."""
    rows = max(1, chunk_elements // max(1, c.shape[0]))
    return _WeightedLogSumExp.apply(a, c, weight, rows, float(bound))


def info_nce_nodes(view_a: torch.Tensor, view_b: torch.Tensor, nodes: torch.Tensor, temperature: float = 1.0,
                   chunk_elements: int = 1 << 21) -> torch.Tensor:
    """InfoNCE of the nodes ``nodes`` between two views, each against *every* row of ``view_b``:
    ``mean_k [ -s(a_k, b_k)/t + log sum_j exp(s(a_k, b_j)/t) ]`` with ``a_k = view_a[nodes[k]]``,
    ``b_k = view_b[nodes[k]]``, ``s`` the cosine (RLMRec/SSLRec's view contrast, e.g. a batch's users against
    all users). Equal to ``info_nce(view_a[nodes], view_b[nodes], view_b, temperature, nodes)``, computed
    once per distinct node weighted by its count; the log-sum-exp runs in row blocks of about
    ``chunk_elements`` logits and takes its gradient in the same pass (no ``[len(nodes), n]`` buffer is kept)."""
    uniq, counts = torch.unique(nodes, return_counts=True)
    weight = counts.to(view_a.dtype) / nodes.numel()
    a = F.normalize(view_a[uniq], dim=-1, eps=1e-8) / temperature
    c = F.normalize(view_b, dim=-1, eps=1e-8)
    pos = (weight * (a * c[uniq]).sum(-1)).sum()
    return _lse(a, c, weight, temperature, chunk_elements) - pos


# |logit| <= 1/t for unit rows: without a shift exp() stays finite while 1/t <= 60 (e^60 * 1e7 rows << float max)
_NO_SHIFT_BOUND = 60.0


class _WeightedLogSumExp(torch.autograd.Function):
    """``sum_k w_k logsumexp_j(a_k . c_j)`` in blocks of ``rows`` rows of ``a``. Each block's logits are
    exponentiated once and give the value and both gradients right away (the weights are constants), so
    the backward pass only scales the stored gradients. ``bound`` bounds ``|a_k . c_j|``."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, c: torch.Tensor, w: torch.Tensor, rows: int, bound: float) -> torch.Tensor:  # noqa: D102
        need_a, need_c = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_a = torch.empty_like(a) if need_a else None
        grad_c = torch.zeros_like(c) if need_c else None
        total = torch.zeros((), dtype=a.dtype, device=a.device)
        for s in range(0, a.shape[0], rows):
            blk, wb = a[s:s + rows], w[s:s + rows]
            e = blk @ c.T
            if bound > _NO_SHIFT_BOUND:  # large 1/t: shift each row by its maximum
                shift = e.amax(dim=1)
                e.sub_(shift[:, None])
            else:
                shift = None
            e.exp_()
            z = e.sum(dim=1)
            lse = z.log() if shift is None else z.log() + shift
            total = total + (wb * lse).sum()
            scale = (wb / z)[:, None]  # d(w_k lse_k)/d logit_kj = w_k e_kj / z_k (e shifted or not)
            if need_a:
                torch.mm(e, c, out=grad_a[s:s + rows]).mul_(scale)
            if need_c:
                grad_c.addmm_(e.T, blk * scale)
        ctx.save_for_backward(grad_a if need_a else None, grad_c if need_c else None)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        grad_a, grad_c = ctx.saved_tensors
        return (None if grad_a is None else grad_a * grad, None if grad_c is None else grad_c * grad, None, None, None)
