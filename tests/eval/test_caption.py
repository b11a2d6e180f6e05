"""A result's caption says what was masked before ranking: the protocol's history masking, or nothing at all
(Recformer's evaluator, `MASK_HISTORY = False` in notebooks 05, 06, 30, 31)."""

from __future__ import annotations

import scipy.sparse as sp
import torch

from lmrec.eval import Protocol
from lmrec.eval.ranking import evaluate


def _result(exclude, protocol):
    targets = sp.csr_matrix(([1.0, 1.0], ([0, 1], [2, 0])), shape=(2, 4))
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.2], [0.3, 0.8, 0.1, 0.4]])
    return evaluate(lambda users: scores[users], targets, exclude, protocol, split="test")


def test_the_caption_names_the_masking_that_was_done():
    train = sp.csr_matrix(([1.0], ([0], [0])), shape=(2, 4))
    masked, unmasked = _result(train, Protocol(ks=(1,))), _result(None, Protocol(ks=(1,)))
    assert "train items masked at test" in masked.caption() and "history not masked" not in masked.caption()
    assert "history not masked" in unmasked.caption() and "masked at test" not in unmasked.caption()
    # the masking is what moves user 0's target to the top
    assert masked.metrics["recall@1"] == 0.5 and unmasked.metrics["recall@1"] == 0.0
    both = _result(train, Protocol(ks=(1,), mask_valid_at_test=True))
    assert "train+valid items masked at test" in both.caption()
