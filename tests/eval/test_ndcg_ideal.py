"""The LLMRec-code NDCG variant (ideal over retrieved hits) against a hand-computed case."""

from __future__ import annotations

import math

import pytest
import torch

from lmrec.eval import Protocol, rank_metrics


def test_ndcg_ideal_relevant_vs_retrieved_hits():
    scores = torch.tensor([[0.5, 0.9, 0.1, 0.2, 0.3, 1.0]])  # ranking: 5, 1, 0, 4, ...
    targets = torch.zeros(1, 6, dtype=torch.bool)
    targets[0, [1, 2, 3]] = True  # one hit (item 1, rank 2) in the top 3
    dcg = 1 / math.log2(3)
    standard = rank_metrics(scores, targets, (3,))["ndcg@3"].item()
    llmrec = rank_metrics(scores, targets, (3,), ndcg_ideal="retrieved_hits")["ndcg@3"].item()
    assert standard == pytest.approx(dcg / (1 + 1 / math.log2(3) + 0.5))
    assert llmrec == pytest.approx(dcg / 1.0)


def test_protocol_rejects_unknown_ndcg_ideal_and_captions_the_variant():
    with pytest.raises(ValueError, match="ndcg_ideal"):
        Protocol(ndcg_ideal="best")
    assert "retrieved hits" in Protocol(ndcg_ideal="retrieved_hits").caption()
    assert "retrieved hits" not in Protocol().caption()
