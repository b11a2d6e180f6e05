"""DCCF and AutoCF on RLMRec's own Yelp split (``../shared/data/rlmrec_yelp``): CPU seconds per epoch and how
far a bounded CPU run gets towards RLMRec's published numbers.

RLMRec's yelp hyperparameters (``encoder/config/modelconf/{dccf,autocf}.yml``): Adam 1e-3, batch 4096,
embedding 32; DCCF 2 layers, 128 intents, reg 1e-4, cl_weight 1e-3, temperature 0.1; AutoCF 3 GCN layers,
1 GT layer (4 heads), seed_num 100, mask_depth 2, keep_rate 0.2, fix_steps 10, reg 1e-7, ssl_reg 2.
RLMRec's own AutoCF (seed 2023, its own code) reached test Recall@20 0.1306 / NDCG@20 0.0821 there after
hundreds of epochs on a GPU; here each model trains for a wall-clock budget on the CPU, then the
validation and test splits are evaluated once (full ranking, training items masked).

    OMP_NUM_THREADS=1 python bench/cf_dccf_autocf_yelp.py --budget 150 300 --out bench/results/cf_yelp_dccf_autocf.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from lmrec.cf import BackboneConfig, Batch, CFModel, Graph, NoAlignment, build_backbone
from lmrec.cf.trainer import evaluate_cf
from lmrec.data import load_dataset
from lmrec.eval import Protocol
from lmrec.run.context import machine_summary
from lmrec.train.sampling import NegativeSampler

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "rlmrec_yelp"
YELP = {
    "dccf": dict(layers=2, reg=1e-4, extra={"n_intents": 128, "cl_weight": 1e-3, "cl_temperature": 0.1}),
    "autocf": dict(layers=3, reg=1e-7, extra={"gt_layers": 1, "n_heads": 4, "seed_num": 100, "mask_depth": 2,
                                              "keep_rate": 0.2, "fix_steps": 10, "ssl_reg": 2.0}),
}
PUBLISHED = {"autocf": (0.1306, 0.0821)}


def bounded_run(name: str, dataset, budget_s: float, batch_size: int, lr: float, seed: int) -> dict:
    """Train ``name`` with RLMRec's yelp hyperparameters until ``budget_s`` CPU seconds are spent (the epoch in
    progress is cut at the budget), then evaluate valid and test once. Times are process CPU seconds."""
    torch.manual_seed(seed)
    cfg = YELP[name]
    graph = Graph(dataset.train)
    backbone = build_backbone(name, graph, BackboneConfig(dim=32, layers=cfg["layers"], extra=dict(cfg["extra"])))
    model = CFModel(backbone, NoAlignment(), reg_weight=cfg["reg"])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    users, items = graph.train_users, graph.train_items
    sampler = NegativeSampler(users, items, graph.n_items)
    steps, epoch, step_times, first_losses, last_losses = 0, 0, [], None, None
    t_start = time.process_time()
    done = False
    while not done:
        model.train()
        backbone.on_epoch_start(epoch)
        perm = torch.randperm(users.numel())
        u_all, p_all = users[perm], items[perm]
        n_all = sampler.sample(u_all)
        for step, start in enumerate(range(0, u_all.numel(), batch_size)):
            t0 = time.process_time()
            sl = slice(start, start + batch_size)
            batch = Batch(u_all[sl], p_all[sl], n_all[sl], epoch=epoch, step=step)
            backbone.on_step_start(batch)
            opt.zero_grad(set_to_none=True)
            loss, parts = model.loss(batch)
            loss.backward()
            opt.step()
            step_times.append(time.process_time() - t0)
            parts = {k: round(float(v), 4) for k, v in parts.items()}
            first_losses = first_losses or parts
            last_losses = parts
            steps += 1
            if time.process_time() - t_start > budget_s:
                done = True
                break
        epoch += 1
    train_cpu = time.process_time() - t_start
    steps_per_epoch = -(-users.numel() // batch_size)
    t0 = time.process_time()
    protocol = Protocol(ks=(20,))
    valid = evaluate_cf(model, dataset, "valid", protocol, graph.device)
    test = evaluate_cf(model, dataset, "test", protocol, graph.device)
    eval_cpu = time.process_time() - t0
    sec_step = sorted(step_times)[len(step_times) // 2]
    return {"name": name, "steps": steps, "epochs": steps / steps_per_epoch, "sec_per_step": sec_step,
            "sec_per_epoch": sec_step * steps_per_epoch, "train_cpu": train_cpu, "eval_cpu": eval_cpu,
            "valid": valid.metrics, "test": test.metrics, "first": first_losses, "last": last_losses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--budget", type=float, nargs="+", default=[150.0, 300.0],
                    help="training CPU seconds, one per model (or one for all)")
    ap.add_argument("--models", nargs="+", default=["dccf", "autocf"])
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        raise SystemExit(f"{args.data} not found: this benchmark needs RLMRec's yelp split (../shared/data/rlmrec_yelp)")
    machine_at_start = machine_summary()
    ds = load_dataset(f"rlmrec:{args.data}", "given")
    budgets = args.budget * len(args.models) if len(args.budget) == 1 else args.budget
    if len(budgets) != len(args.models):
        raise SystemExit(f"--budget needs one value or one per model ({len(args.models)}), got {args.budget}")
    results = [bounded_run(m, ds, b, args.batch_size, args.lr, args.seed) for m, b in zip(args.models, budgets)]

    lines = ["# DCCF and AutoCF on RLMRec's Yelp split (CPU)", "",
             f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python bench/cf_dccf_autocf_yelp.py "
             f"--budget {' '.join(f'{b:g}' for b in budgets)} --models {' '.join(args.models)}`", "",
             f"Machine: {machine_at_start}. "
             "Times are process CPU seconds (the machine is shared, so wall-clock time is several times longer).", "",
             f"Data: {ds.n_users:,} users x {ds.n_items:,} items; {ds.train.nnz:,} / {ds.valid.nnz:,} / "
             f"{ds.test.nnz:,} train / valid / test interactions. RLMRec's yelp hyperparameters, batch "
             f"{args.batch_size}, Adam {args.lr:g}, seed {args.seed}; training of each model stops after its CPU-second "
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
