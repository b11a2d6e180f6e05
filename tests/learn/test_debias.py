"""LEARN deviations against collapse: content post-processing (the logQ correction is tested in tests/seqrec)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmrec.learn.content import content_geometry, postprocess_content


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
