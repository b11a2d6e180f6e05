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
    against all users), pass ``positive_index``: the same value is computed as one fused cross-entropy.
    """
    a = F.normalize(a, dim=-1, eps=1e-8) / temperature
    if candidates is None:
        b = F.normalize(b, dim=-1, eps=1e-8)
        return F.cross_entropy(a @ b.T, torch.arange(a.shape[0], device=a.device))
    c = F.normalize(candidates, dim=-1, eps=1e-8)
    if positive_index is not None:
        return F.cross_entropy(a @ c.T, positive_index)
    pos = (a * F.normalize(b, dim=-1, eps=1e-8)).sum(-1)
    return (torch.logsumexp(a @ c.T, dim=-1) - pos).mean()
