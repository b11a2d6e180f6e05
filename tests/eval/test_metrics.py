"""Full-ranking metrics: hand-computed cases, both Recall denominators, masking, full-rank MRR,
batching invariance, and agreement with torchmetrics.retrieval on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lmrec.data import InteractionDataset, make_interactions
from lmrec.eval import Protocol, evaluate, evaluate_split, exclusion, rank_metrics

# Two users, six items, scores decreasing with the item id for both users.
SCORES = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]] * 2)


def csr(rows: list[list[int]], n_items: int = 6) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(rows), n_items))


def fixed(scores: torch.Tensor):
    return lambda users: scores[users]


def run(targets, exclude, ks=(1, 2, 5), denominator="n_relevant", batch_size=1024, scores=SCORES):
    return evaluate(fixed(scores), csr(targets, scores.shape[1]), csr(exclude, scores.shape[1]) if exclude else None,
                    Protocol(ks=ks, recall_denominator=denominator), batch_size=batch_size, keep_per_user=True)


def test_hand_computed_case_with_training_items_masked():
    # user 0: train {0} masked -> ranking 1,2,3,4,5; targets {1, 4} at ranks 1 and 4.
    # user 1: train {1} masked -> ranking 0,2,3,4,5; target {5} at rank 5.
    res = run([[1, 4], [5]], [[0], [1]])
    pu = res.per_user
    d = [1 / math.log2(r + 1) for r in range(1, 7)]  # DCG discount at rank r
    assert res.n_users == 2
    assert pu["recall@1"].tolist() == pytest.approx([1 / 2, 0])
    assert pu["recall@2"].tolist() == pytest.approx([1 / 2, 0])
    assert pu["recall@5"].tolist() == pytest.approx([1, 1])
    assert pu["precision@2"].tolist() == pytest.approx([1 / 2, 0])
    assert pu["precision@5"].tolist() == pytest.approx([2 / 5, 1 / 5])
    assert pu["hit@1"].tolist() == [1, 0] and pu["hit@5"].tolist() == [1, 1]
    assert pu["ndcg@2"].tolist() == pytest.approx([d[0] / (d[0] + d[1]), 0])
    assert pu["ndcg@5"].tolist() == pytest.approx([(d[0] + d[3]) / (d[0] + d[1]), d[4] / d[0]])
    assert pu["mrr"].tolist() == pytest.approx([1, 1 / 5])
    assert res.metrics["recall@5"] == pytest.approx(1.0)
    assert res.metrics["ndcg@5"] == pytest.approx(((d[0] + d[3]) / (d[0] + d[1]) + d[4]) / 2)


def test_without_masking_the_training_item_takes_the_first_slot():
    res = run([[1, 4], [5]], None)
    assert res.per_user["recall@1"].tolist() == [0, 0]  # item 0 (unmasked) is ranked first for both
    assert res.per_user["mrr"].tolist() == pytest.approx([1 / 2, 1 / 6])


def test_recall_denominators():
    # |T| = 3 (items 0, 3, 5), nothing masked: ranks 1, 4, 6.
    n_rel = run([[0, 3, 5]], None, ks=(1, 2, 4))
    min_k = run([[0, 3, 5]], None, ks=(1, 2, 4), denominator="min_k")
    assert [n_rel.metrics[f"recall@{k}"] for k in (1, 2, 4)] == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    assert [min_k.metrics[f"recall@{k}"] for k in (1, 2, 4)] == pytest.approx([1 / 1, 1 / 2, 2 / 3])
    # NDCG's ideal DCG uses min(K, |T|) relevant items in both cases
    d = [1 / math.log2(r + 1) for r in range(1, 7)]
    assert n_rel.metrics["ndcg@4"] == pytest.approx((d[0] + d[3]) / (d[0] + d[1] + d[2]))
    assert n_rel.metrics["ndcg@4"] == min_k.metrics["ndcg@4"]


def test_full_rank_mrr_counts_ranks_beyond_the_largest_cut_off():
    res = run([[5]], None, ks=(1,))
    assert res.metrics["mrr"] == pytest.approx(1 / 6) and res.metrics["recall@1"] == 0


def test_users_without_targets_are_left_out_of_the_average():
    res = run([[1], [], [2]], None, ks=(1,), scores=torch.tensor([[0.0, 1.0, 0.5]] * 3))
    assert res.n_users == 2 and res.metrics["hit@1"] == pytest.approx(0.5)


def test_batching_does_not_change_the_numbers():
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(37, 50, generator=gen)
    rng = np.random.default_rng(0)
    targets = [rng.choice(50, size=rng.integers(0, 4), replace=False).tolist() for _ in range(37)]
    exclude = [sorted(set(rng.choice(50, size=5).tolist()) - set(t)) for t in targets]
    one = run(targets, exclude, ks=(3, 10), scores=scores, batch_size=1)
    big = run(targets, exclude, ks=(3, 10), scores=scores, batch_size=1000)
    assert one.metrics == pytest.approx(big.metrics, abs=1e-7)


def _dataset() -> InteractionDataset:
    # one user; train {0}; valid {1}; test {2}. Scores rank 0 > 1 > 2 > 3.
    inter = make_interactions(np.array([0, 0, 0]), np.array([0, 1, 2]), np.array(["train", "valid", "test"], dtype=object))
    return InteractionDataset(name="t", interactions=inter, n_users=1, n_items=4,
                              user_ids=np.array(["u"], dtype=object), item_ids=np.array(list("abcd"), dtype=object))


def test_mask_valid_at_test():
    ds = _dataset()
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    plain = evaluate_split(fixed(scores), ds, "test", Protocol(ks=(1,)))
    masked = evaluate_split(fixed(scores), ds, "test", Protocol(ks=(1,), mask_valid_at_test=True))
    assert plain.metrics["hit@1"] == 0 and plain.metrics["mrr"] == pytest.approx(1 / 2)
    assert masked.metrics["hit@1"] == 1 and masked.metrics["mrr"] == 1
    # validation always masks training items only
    valid = evaluate_split(fixed(scores), ds, "valid", Protocol(ks=(1,), mask_valid_at_test=True))
    assert valid.metrics["hit@1"] == 1
    assert (exclusion(ds, "test", Protocol(mask_valid_at_test=True)) != ds.matrix(("train", "valid"))).nnz == 0
    for protocol in (Protocol(), Protocol(mask_valid_at_test=True)):
        assert (exclusion(ds, "valid", protocol) != ds.matrix("train")).nnz == 0
    # the test item (2) scored above the valid target (1) stays a competitor at validation: rank 2
    valid = evaluate_split(fixed(torch.tensor([[4.0, 2.0, 3.0, 1.0]])), ds, "valid", Protocol(ks=(1,)))
    assert valid.metrics["hit@1"] == 0 and valid.metrics["mrr"] == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="split must be 'valid' or 'test'"):
        exclusion(ds, "train", Protocol())


def test_protocol_validation_and_caption():
    with pytest.raises(ValueError, match="recall_denominator"):
        Protocol(recall_denominator="k")
    with pytest.raises(ValueError, match="positive cut-offs"):
        Protocol(ks=(0, 5))
    assert Protocol(ks=(20, 5)).ks == (5, 20)
    cap = Protocol(recall_denominator="min_k", mask_valid_at_test=True).caption()
    assert "min(K,|T|)" in cap and "train+valid items masked" in cap


def test_rank_metrics_when_k_exceeds_the_number_of_items():
    scores = torch.tensor([[0.3, 0.2, 0.1]])
    targets = torch.tensor([[False, False, True]])
    out = rank_metrics(scores, targets, (5,))
    assert out["recall@5"].item() == 1 and out["precision@5"].item() == pytest.approx(1 / 5)
    assert out["ndcg@5"].item() == pytest.approx(1 / math.log2(4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_torchmetrics_retrieval_on_random_data(seed):
    tm = pytest.importorskip("torchmetrics.retrieval")
    n_users, n_items, ks = 40, 60, (1, 5, 10, 20)
    gen = torch.Generator().manual_seed(seed)
    # positive scores: torchmetrics' RetrievalMRR (1.9) ignores targets whose score is <= 0
    scores = 0.01 + torch.rand(n_users, n_items, generator=gen)
    rng = np.random.default_rng(seed)
    targets, exclude = [], []
    for _ in range(n_users):
        perm = rng.permutation(n_items)
        n_t, n_x = rng.integers(1, 8), rng.integers(0, 15)
        targets.append(perm[:n_t].tolist())
        exclude.append(perm[n_t:n_t + n_x].tolist())
    ours = run(targets, exclude, ks=ks, scores=scores).metrics
    # torchmetrics sees, per user, only the items that are not masked (masked items cannot be recommended)
    keep = ~csr(exclude, n_items).toarray().astype(bool)
    tgt = csr(targets, n_items).toarray().astype(bool)
    preds = scores.numpy()[keep]
    target = torch.as_tensor(tgt[keep])
    indexes = torch.as_tensor(np.nonzero(keep)[0])
    preds = torch.as_tensor(preds)
    for k in ks:
        for name, metric in (("recall", tm.RetrievalRecall(top_k=k)), ("precision", tm.RetrievalPrecision(top_k=k)),
                             ("ndcg", tm.RetrievalNormalizedDCG(top_k=k)), ("hit", tm.RetrievalHitRate(top_k=k))):
            ref = float(metric(preds, target, indexes=indexes))
            assert ours[f"{name}@{k}"] == pytest.approx(ref, abs=1e-6), (name, k)
    assert ours["mrr"] == pytest.approx(float(tm.RetrievalMRR()(preds, target, indexes=indexes)), abs=1e-6)


def test_masking_does_not_modify_the_scores_score_fn_returns():
    held = SCORES.clone()
    run([[1, 4], [5]], [[0], [1]], scores=held)
    assert torch.equal(held, SCORES)


def test_all_targets_masked_gives_zero_hits_and_rank_after_the_unmasked_items():
    res = run([[0]], [[0]], ks=(1, 6), scores=SCORES[:1])
    assert res.metrics["hit@1"] == 0 and res.metrics["mrr"] == pytest.approx(1 / 6)
    # K = all items: the masked target is in the top-6 at -inf but must not count
    assert res.metrics["hit@6"] == 0 and res.metrics["recall@6"] == 0 and res.metrics["ndcg@6"] == 0
