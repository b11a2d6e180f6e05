"""LEARN deviations against collapse and popularity bias: content post-processing and the logQ correction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmrec.learn.content import content_geometry, postprocess_content
from lmrec.seqrec.losses import in_batch_softmax_loss, target_log_frequency


def _collinear(n: int = 60, d: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    common = torch.randn(d, generator=g)
    return F.normalize(5 * common + 0.3 * torch.randn(n, d, generator=g), dim=-1)


def test_centring_and_whitening_spread_nearly_collinear_vectors():
    x = _collinear()
    raw = content_geometry(x)
    assert raw["mean_cosine"] > 0.9 and raw["effective_rank"] < 3
    centred, white = postprocess_content(x, "center"), postprocess_content(x, "whiten")
    assert torch.allclose(centred.norm(dim=-1), torch.ones(len(x)), atol=1e-5)
    assert abs(content_geometry(centred)["mean_cosine"]) < 0.05 < raw["mean_cosine"] - 0.8
    # whitening: before re-normalisation the centred data has identity covariance
    xc = x.double() - x.double().mean(0)
    _, s, vt = torch.linalg.svd(xc, full_matrices=False)
    z = xc @ vt.T / (s / (len(x) - 1) ** 0.5)
    assert torch.allclose(z.T @ z / (len(x) - 1), torch.eye(z.shape[1], dtype=torch.float64), atol=1e-6)
    assert content_geometry(white)["effective_rank"] > content_geometry(centred)["effective_rank"]
    assert torch.equal(postprocess_content(x, "none"), x)
    with pytest.raises(ValueError, match="CONTENT_POSTPROCESS"):
        postprocess_content(x, "pca")


def test_logq_subtracts_each_columns_target_log_frequency():
    g = torch.Generator().manual_seed(1)
    users, items = F.normalize(torch.randn(4, 8, generator=g), dim=-1), F.normalize(torch.randn(4, 8, generator=g), dim=-1)
    targets = torch.tensor([0, 2, 2, 5])
    log_q = torch.log(torch.tensor([0.4, 0.05, 0.3, 0.05, 0.1, 0.1]))
    logits = 20 * users @ items.T
    logits[1, 2] = logits[2, 1] = float("-inf")  # rows 1 and 2 share their target: not each other's negative
    logits = logits - log_q[targets][None, :]
    expected = F.cross_entropy(logits, torch.arange(4))
    assert in_batch_softmax_loss(users, items, targets, 20.0, log_q).item() == pytest.approx(expected.item(), rel=1e-6)
    assert in_batch_softmax_loss(users, items, targets, 20.0).item() != pytest.approx(expected.item(), rel=1e-3)


def test_target_log_frequency_counts_every_training_position_with_add_one_smoothing():
    log_q = target_log_frequency([[0, 1, 1], [1, 3]], n_items=4)
    assert torch.allclose(log_q.exp(), torch.tensor([2, 4, 1, 2]) / 9.0)
