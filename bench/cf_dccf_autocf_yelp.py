"""DCCF and AutoCF on RLMRec's own Yelp split (``../shared/data/rlmrec_yelp``): CPU seconds per epoch and how
far a bounded CPU run gets towards RLMRec's published numbers.

The hyperparameters are RLMRec's yelp values as the params set ``params/rlmrec_yelp`` holds them (its plain
``ALIGNMENT: none`` row of each notebook over the notebook's defaults, read by ``cf_yelp.yelp_spec``: nothing is
restated here); the epoch body
is the library's (:func:`lmrec.cf.trainer.train_epoch`). RLMRec's own AutoCF (seed 2023, its own code) reached
test Recall@20 0.1306 / NDCG@20 0.0821 there after hundreds of epochs on a GPU; here each model trains for a
CPU-second budget (the epoch in progress is cut at the budget), then the validation and test splits are
evaluated once (full ranking, training items masked).

    OMP_NUM_THREADS=1 python bench/cf_dccf_autocf_yelp.py --budget 150 300 --out bench/results/cf_yelp_dccf_autocf.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from cf_yelp import yelp_spec

from lmrec.cf.notebook import CFSpec, build_model
from lmrec.cf.trainer import evaluate_cf, train_epoch
from lmrec.data import load_dataset
from lmrec.eval import Protocol
from lmrec.run.context import machine_summary
from lmrec.train.sampling import NegativeSampler

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "rlmrec_yelp"
PUBLISHED = {"autocf": (0.1306, 0.0821)}


def bounded_run(name: str, spec: CFSpec, dataset, budget_s: float) -> dict:
    """Train ``spec`` until ``budget_s`` CPU seconds are spent (the epoch in progress is cut at the budget), then
    evaluate valid and test once. Times are process CPU seconds."""
    torch.manual_seed(spec.seed)
    model = build_model(spec, dataset)
    graph = model.backbone.graph
    opt = torch.optim.Adam(model.parameters(), lr=spec.train.lr)
    users, items = graph.train_users, graph.train_items
    sampler = NegativeSampler(users, items, graph.n_items)
    step_times: list[float] = []
    losses: dict[str, dict[str, float]] = {}  # first and last step
    t_start = clock = time.process_time()

    def after_step(parts: dict[str, torch.Tensor]) -> bool:
        nonlocal clock
        now = time.process_time()
        step_times.append(now - clock)
        clock = now
        losses["last"] = {k: round(float(v), 4) for k, v in parts.items() if k != "loss"}
        losses.setdefault("first", losses["last"])
        return now - t_start > budget_s

    epoch = 0
    while time.process_time() - t_start <= budget_s:
        clock = time.process_time()
        train_epoch(model, opt, sampler, users, items, spec.train.batch_size, epoch, after_step)
        epoch += 1
    train_cpu = time.process_time() - t_start
    steps, steps_per_epoch = len(step_times), -(-users.numel() // spec.train.batch_size)
    t0 = time.process_time()
    protocol = Protocol(ks=(20,))
    valid = evaluate_cf(model, dataset, "valid", protocol, graph.device)
    test = evaluate_cf(model, dataset, "test", protocol, graph.device)
    eval_cpu = time.process_time() - t0
    sec_step = sorted(step_times)[len(step_times) // 2]
    return {"name": name, "steps": steps, "epochs": steps / steps_per_epoch, "sec_per_step": sec_step,
            "sec_per_epoch": sec_step * steps_per_epoch, "train_cpu": train_cpu, "eval_cpu": eval_cpu,
            "valid": valid.metrics, "test": test.metrics, "first": losses["first"], "last": losses["last"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--budget", type=float, nargs="+", default=[150.0, 300.0],
                    help="training CPU seconds, one per model (or one for all)")
    ap.add_argument("--models", nargs="+", default=["dccf", "autocf"])
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        raise SystemExit(f"{args.data} not found: this benchmark needs RLMRec's yelp split (../shared/data/rlmrec_yelp)")
    machine_at_start = machine_summary()
    ds = load_dataset(f"rlmrec:{args.data}", "given")
    budgets = args.budget * len(args.models) if len(args.budget) == 1 else args.budget
    if len(budgets) != len(args.models):
        raise SystemExit(f"--budget needs one value or one per model ({len(args.models)}), got {args.budget}")
    specs = {m: yelp_spec(m, data=args.data) for m in args.models}
    results = [bounded_run(m, specs[m], ds, b) for m, b in zip(args.models, budgets)]
    settings = "; ".join(f"{m}: batch {s.train.batch_size}, Adam {s.train.lr:g}, seed {s.seed}" for m, s in specs.items())

    lines = ["# DCCF and AutoCF on RLMRec's Yelp split (CPU)", "",
             f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python bench/cf_dccf_autocf_yelp.py "
             f"--budget {' '.join(f'{b:g}' for b in budgets)} --models {' '.join(args.models)}`", "",
             f"Machine: {machine_at_start}. "
             "Times are process CPU seconds (the machine is shared, so wall-clock time is several times longer).", "",
             f"Data: {ds.n_users:,} users x {ds.n_items:,} items; {ds.train.nnz:,} / {ds.valid.nnz:,} / "
             f"{ds.test.nnz:,} train / valid / test interactions. RLMRec's yelp hyperparameters "
             f"(params/rlmrec_yelp: {settings}); training of each model stops after its CPU-second "
             f"budget ({', '.join(f'{m} {b:g}' for m, b in zip(args.models, budgets))}).",
             "", "| model | CPU s / step | CPU s / epoch | steps (epochs) trained | valid R@20 | test R@20 | test N@20 "
             "| RLMRec's own (test R@20 / N@20) |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        pub = PUBLISHED.get(r["name"])
        pub_s = f"{pub[0]:.4f} / {pub[1]:.4f}" if pub else "—"
        lines.append(f"| {r['name']} | {r['sec_per_step']:.2f} | {r['sec_per_epoch']:.1f} | {r['steps']} "
                     f"({r['epochs']:.2f}) | {r['valid']['recall@20']:.4f} | {r['test']['recall@20']:.4f} | "
                     f"{r['test']['ndcg@20']:.4f} | {pub_s} |")
    lines.append("")
    for r in results:
        lines.append(f"- {r['name']}: losses first step {r['first']}, last step {r['last']}; evaluation "
                     f"(valid + test) {r['eval_cpu']:.1f} CPU s.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
