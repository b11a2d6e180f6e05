"""Graph CF on RLMRec's own Yelp split (../shared/data/rlmrec_yelp) with RLMRec's yelp hyperparameters.

1. Seconds per training epoch of every backbone (plain), estimated from timed batches of 4096 after a
   warm-up batch (wall and process CPU time; OMP_NUM_THREADS=1).
2. As much of a plain LightGCN / SimGCL run as fits a time cap: early stopping on validation Recall@20,
   best state restored, test once. RLMRec's own code reached SimGCL test Recall@20 0.1256 / NDCG@20 0.0794.

Usage: OMP_NUM_THREADS=1 python bench/cf_yelp.py [--data ../shared/data/rlmrec_yelp] [--batches 4]
       [--train lightgcn:300,simgcl:120@0.005]   (backbone:seconds of training[@lr])
Writes a markdown block to stdout; the recorded results are in bench/results/cf_yelp.md.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import yaml

from lmrec.cf import TrainConfig
from lmrec.cf.backbone import Batch
from lmrec.cf.notebook import CFSpec, build_model, run_backbone
from lmrec.cf.registry import BACKBONES
from lmrec.cf.sampling import NegativeSampler
from lmrec.data import load_dataset
from lmrec.paths import REPO_ROOT
from lmrec.run.context import machine_summary


def yelp_spec(backbone: str, alignment: str = "none") -> CFSpec:
    """CFSpec from params/rlmrec_yelp/cf.yaml (RLMRec's yelp values)."""
    plan = yaml.safe_load((REPO_ROOT / "params/rlmrec_yelp/cf.yaml").read_text())
    nb = {"gccf": "10_gccf", "lightgcn": "11_lightgcn", "sgl": "12_sgl", "simgcl": "13_simgcl",
          "dccf": "14_dccf", "autocf": "15_autocf"}[backbone]
    p = {**plan.get("notebooks", {}).get(nb, {})}
    for row in plan["grid"][nb]:
        if row["ALIGNMENT"] == alignment:
            p.update(row)
    common = {"ALIGNMENT", "EMBED_DIM", "LAYERS", "REG_WEIGHT", "KD_WEIGHT", "KD_TEMPERATURE", "MASK_RATIO",
              "RECON_WEIGHT", "RE_TEMPERATURE", "DATASET", "SPLIT", "PROFILE_SOURCE", "LR", "EPOCHS", "BATCH_SIZE",
              "EVAL_EVERY", "PATIENCE"}
    extra = {k.lower(): v for k, v in p.items() if k not in common}  # the notebooks' extra names, lower-cased
    return CFSpec(backbone=backbone, alignment=alignment, split="given", dim=p.get("EMBED_DIM", 32),
                  layers=p["LAYERS"], extra=extra, reg_weight=p["REG_WEIGHT"],
                  train=TrainConfig(epochs=p.get("EPOCHS", 3000), batch_size=p.get("BATCH_SIZE", 4096), lr=p.get("LR", 1e-3),
                                    eval_every=p.get("EVAL_EVERY", 3), patience=p.get("PATIENCE", 5)))


def seconds_per_epoch(spec: CFSpec, dataset, n_batches: int) -> tuple[float, float]:
    torch.manual_seed(2023)
    model = build_model(spec, dataset)
    g = model.backbone.graph
    sampler = NegativeSampler(g.train_users, g.train_items, g.n_items)
    opt = torch.optim.Adam(model.parameters(), lr=spec.train.lr)
    bs = spec.train.batch_size
    model.backbone.on_epoch_start(0)
    perm = torch.randperm(g.n_train)
    wall = cpu = 0.0
    for step in range(n_batches + 1):
        idx = perm[step * bs:(step + 1) * bs]
        t0, c0 = time.perf_counter(), time.process_time()
        u = g.train_users[idx]
        b = Batch(u, g.train_items[idx], sampler.sample(u), step=step)
        model.backbone.on_step_start(b)
        opt.zero_grad()
        loss, _ = model.loss(b)
        loss.backward()
        opt.step()
        if step:  # the first batch is a warm-up
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    per_epoch = -(-g.n_train // bs)
    return wall / n_batches * per_epoch, cpu / n_batches * per_epoch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO_ROOT.parent / "shared/data/rlmrec_yelp"))
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--train", default="lightgcn:300")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    ds = load_dataset(f"rlmrec:{args.data}", "given")
    print(f"## {ds.describe()}\n\nmachine: {machine_summary()}\n")
    print("| backbone | s/epoch (wall) | s/epoch (CPU) |\n|---|---|---|")
    for name in [b for b in args.backbones.split(",") if b]:
        try:
            wall, cpu = seconds_per_epoch(yelp_spec(name), ds, args.batches)
            print(f"| {name} | {wall:.1f} | {cpu:.1f} |", flush=True)
        except (ImportError, KeyError, ValueError) as err:
            print(f"| {name} | n/a ({type(err).__name__}: {err}) | |", flush=True)
    for item in [x for x in args.train.split(",") if x]:
        name, secs = item.split(":")
        secs, _, lr = secs.partition("@")  # optional learning-rate override: lightgcn:900@0.005
        spec = yelp_spec(name)
        if lr:
            spec.train.lr = float(lr)
        spec.train.time_limit_s = float(secs)
        spec.train.progress = False
        c0 = time.process_time()
        run = run_backbone(spec, dataset=ds)
        r = run.result
        curve = [(h["epoch"], round(h["valid_recall@20"], 4)) for h in r.history if "valid_recall@20" in h]
        print(f"\n{name} (lr {spec.train.lr:g}, time cap {secs} s of training, CPU {time.process_time() - c0:.0f} s): epochs {r.epochs_run}, "
              f"best epoch {r.best_epoch}, valid R@20 {r.valid.metrics['recall@20']:.4f}, test R@20 "
              f"{r.test.metrics['recall@20']:.4f} / N@20 {r.test.metrics['ndcg@20']:.4f}; valid curve {curve}", flush=True)


if __name__ == "__main__":
    main()
