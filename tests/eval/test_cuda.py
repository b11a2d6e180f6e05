"""The full-ranking evaluator on each device: the same body runs on CPU here and on CUDA where present (the CUDA
variant is marked ``gpu`` and skipped without a device). Reference: a per-user NumPy loop, written independently."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lmrec.eval import Protocol, evaluate

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def random_split(n_users: int, n_items: int, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Disjoint train/test items per user; some users have no test item (they must not count)."""
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for u in range(n_users):
        items = rng.permutation(n_items)[: rng.integers(2, 12)]
        n_test = 0 if u % 7 == 0 else rng.integers(1, len(items))
        te += [(u, i) for i in items[:n_test]]
        tr += [(u, i) for i in items[n_test:]]

    def mat(pairs):
        r, c = np.array(pairs).T
        return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_users, n_items))

    return mat(tr), mat(te)


def loop_reference(scores: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, ks) -> dict[str, float]:
    sums, n = {}, 0
    for u in range(scores.shape[0]):
        targets = set(test.indices[test.indptr[u]:test.indptr[u + 1]].tolist())
        if not targets:
            continue
        n += 1
        s = scores[u].astype(np.float64).copy()
        s[train.indices[train.indptr[u]:train.indptr[u + 1]]] = -np.inf
        ranked = np.argsort(-s, kind="stable")
        for k in ks:
            hits = [r for r, i in enumerate(ranked[:k]) if i in targets]
            idcg = sum(1 / np.log2(r + 2) for r in range(min(k, len(targets))))
            sums[f"recall@{k}"] = sums.get(f"recall@{k}", 0) + len(hits) / len(targets)
            sums[f"ndcg@{k}"] = sums.get(f"ndcg@{k}", 0) + sum(1 / np.log2(r + 2) for r in hits) / idcg
    return {k: v / n for k, v in sums.items()}


@pytest.mark.parametrize("device", DEVICES)
def test_evaluator_on_device_matches_a_per_user_loop(device):
    train, test = random_split(n_users=150, n_items=90, seed=3)
    gen = torch.Generator().manual_seed(0)
    user, item = torch.randn(150, 16, generator=gen), torch.randn(90, 16, generator=gen)
    scores = (user @ item.T).numpy()
    u_dev, i_dev = user.to(device), item.to(device)
    seen = []

    def score_fn(users: torch.Tensor) -> torch.Tensor:
        seen.append(users.device.type)
        return u_dev[users] @ i_dev.T

    ks = (1, 5, 20)
    res = evaluate(score_fn, test, train, Protocol(ks=ks), device=device, batch_size=32)
    ref = loop_reference(scores, train, test, ks)
    assert set(seen) == {torch.device(device).type}  # the users were sent to the device, batch by batch
    assert res.n_users == int((np.diff(test.indptr) > 0).sum())
    for name, value in ref.items():
        assert res.metrics[name] == pytest.approx(value, abs=1e-5), name
