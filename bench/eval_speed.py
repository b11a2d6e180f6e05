"""Benchmark of the full-ranking evaluator at RLMRec amazon-book size (11,000 users x 9,332 items).

Scores come from a dot product of random user/item embeddings (computed inside ``score_fn`` per batch, as a
model would); training items (realistic density: ~11 per user, long-tailed, ~120k in all, like RLMRec's
3:1:1 split of amazon-book's ~200k interactions) are masked; the test split holds ~3.6 items per user.
Reference in the same process: a naive per-user Python loop (NumPy full argsort per user) on a subset,
scaled up to all users; its metrics are checked against the evaluator's on that subset.

    OMP_NUM_THREADS=1 python bench/eval_speed.py --out bench/results/eval_speed.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from lmrec.eval import Protocol, evaluate
from lmrec.run.context import machine_summary


def long_tail_counts(rng: np.random.Generator, n_users: int, mean: float, n_items: int) -> np.ndarray:
    """Per-user counts from a log-normal (long tail), at least 1, scaled to the wanted mean."""
    raw = rng.lognormal(mean=0.0, sigma=0.9, size=n_users)
    return np.clip(np.round(raw / raw.mean() * mean), 1, n_items // 4).astype(int)


def make_data(n_users: int, n_items: int, seed: int):
    rng = np.random.default_rng(seed)
    popularity = rng.zipf(1.6, size=n_items).astype(float)
    popularity /= popularity.sum()
    n_train = long_tail_counts(rng, n_users, 11.0, n_items)
    n_test = np.maximum(1, np.round(n_train / 3)).astype(int)
    rows, cols, split = [], [], []
    for u in range(n_users):
        items = rng.choice(n_items, size=n_train[u] + n_test[u], replace=False, p=popularity)
        rows.append(np.full(len(items), u))
        cols.append(items)
        split.append(np.r_[np.zeros(n_train[u], bool), np.ones(n_test[u], bool)])
    rows, cols, split = map(np.concatenate, (rows, cols, split))

    def mat(mask):
        return sp.csr_matrix((np.ones(mask.sum(), np.float32), (rows[mask], cols[mask])), shape=(n_users, n_items))

    return mat(~split), mat(split)


def naive_metrics(user_emb: np.ndarray, item_emb: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix,
                  users: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    """Per-user loop: score, mask, full argsort, Recall/NDCG@K; the way many research scripts evaluate."""
    sums = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg") for k in ks}
    for u in users:
        scores = item_emb @ user_emb[u]
        scores[train.indices[train.indptr[u]:train.indptr[u + 1]]] = -np.inf
        ranked = np.argsort(-scores, kind="stable")
        targets = set(test.indices[test.indptr[u]:test.indptr[u + 1]].tolist())
        for k in ks:
            hits = [1.0 if i in targets else 0.0 for i in ranked[:k]]
            sums[f"recall@{k}"] += sum(hits) / len(targets)
            dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / np.log2(r + 2) for r in range(min(k, len(targets))))
            sums[f"ndcg@{k}"] += dcg / idcg
    return {k: v / len(users) for k, v in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=11_000)
    parser.add_argument("--items", type=int, default=9_332)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--naive-users", type=int, default=300, help="users in the naive loop (scaled up)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown result here")
    args = parser.parse_args()

    device = torch.device(args.device)
    ks = (5, 10, 20, 40)
    t0 = time.perf_counter()
    train, test = make_data(args.users, args.items, args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    user_emb = torch.randn(args.users, args.dim, generator=gen)
    item_emb = torch.randn(args.items, args.dim, generator=gen)
    print(f"data: {args.users:,} users x {args.items:,} items, {train.nnz:,} train / {test.nnz:,} test interactions "
          f"({time.perf_counter() - t0:.1f} s to build)")
    u_dev, i_dev = user_emb.to(device), item_emb.to(device)

    def score_fn(users: torch.Tensor) -> torch.Tensor:
        return u_dev[users] @ i_dev.T

    protocol = Protocol(ks=ks)
    rows = []
    result = None
    for bs in args.batch_size:
        times = []
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = evaluate(score_fn, test, train, protocol, device=device, batch_size=bs)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        rows.append((bs, min(times), float(np.median(times))))
        print(f"evaluator batch {bs}: best {min(times):.2f} s, median {np.median(times):.2f} s over {args.repeats}")

    rng = np.random.default_rng(args.seed)
    with_targets = np.flatnonzero(test.getnnz(axis=1) > 0)
    subset = np.sort(rng.choice(with_targets, size=min(args.naive_users, len(with_targets)), replace=False))
    start = time.perf_counter()
    naive = naive_metrics(user_emb.numpy(), item_emb.numpy(), train, test, subset, ks)
    naive_s = time.perf_counter() - start
    naive_full = naive_s * len(with_targets) / len(subset)
    # same users through the evaluator: the numbers must agree
    sub_targets = sp.csr_matrix(test.shape, dtype=np.float32)
    keep = sp.diags(np.isin(np.arange(args.users), subset).astype(np.float32))
    sub_targets = (keep @ test).tocsr()
    check = evaluate(score_fn, sub_targets, train, protocol, device=device, batch_size=1024).metrics
    worst = max(abs(check[k] - v) for k, v in naive.items())
    print(f"naive loop: {naive_s:.2f} s for {len(subset)} users -> {naive_full:.1f} s for {len(with_targets):,} "
          f"(max |difference| to the evaluator on those users: {worst:.2e})")
    best = min(r[1] for r in rows)
    print(f"speed-up of the evaluator over the naive loop: {naive_full / best:.0f}x")

    if args.out:
        lines = [
            "# Evaluator speed: full ranking at RLMRec amazon-book size",
            "",
            f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')} python bench/eval_speed.py "
            f"--device {args.device}{' --out ' + str(args.out) if args.out else ''}`",
            "",
            f"Machine: {machine_summary()}. Device: {device}.",
            "",
            f"Data: {args.users:,} users x {args.items:,} items; {train.nnz:,} training interactions masked (long-tailed, "
            f"~11 per user), {test.nnz:,} test interactions; scores = dot products of random {args.dim}-d embeddings "
            f"computed per batch inside `score_fn`; K in {list(ks)}; metrics Recall, NDCG, Precision, Hit, full-rank MRR.",
            "",
            "| what | batch size | seconds (best) | seconds (median) |",
            "|---|---:|---:|---:|",
            *[f"| `lmrec.eval.evaluate` | {bs} | {b:.2f} | {m:.2f} |" for bs, b, m in rows],
            f"| naive per-user loop (NumPy argsort), {len(subset)} users scaled to {len(with_targets):,} | 1 | "
            f"{naive_full:.1f} | — |",
            "",
            f"Speed-up over the naive loop: **{naive_full / best:.0f}x**. The naive loop computes Recall/NDCG only; on "
            f"its {len(subset)} users the evaluator's numbers agree to {worst:.1e}.",
            "",
            f"Evaluator result (batch {rows[-1][0]}): " + ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items()
                                                                   if k in ("recall@20", "ndcg@20", "mrr")) + ".",
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
