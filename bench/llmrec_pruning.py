"""Which end of LLMRec's noise pruning to keep by default: validation (and test) Recall@20 on ML-100K.

Trains the LLMRec backbone WITHOUT augmentation (no LLM pairs, no side features: the pruning rule alone,
as measured in issue 14) at notebook 21's defaults (read from its parameters cell: EMBED_DIM, LAYERS,
BATCH_SIZE, LR, REG_WEIGHT, EPOCHS, EVAL_EVERY, PATIENCE) for each pruning mode of :data:`lmrec.llmrec.model.PRUNE_MODES`
and each seed, and writes a markdown table with the machine and its load. The default is the mode with the
best mean VALIDATION Recall@20 (test is shown, never used to choose).

    OMP_NUM_THREADS=1 python bench/llmrec_pruning.py --seeds 2023 2024 --out bench/results/llmrec_pruning.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from lmrec.cf import BackboneConfig, CFModel, CFTrainConfig, Graph, NoAlignment, train_cf
from lmrec.data import load_dataset
from lmrec.defaults import notebook_defaults
from lmrec.eval import Protocol
from lmrec.llmrec.model import PRUNE_MODES, LLMRecBackbone, LLMRecConfig, prune_settings
from lmrec.run.context import machine_summary
from lmrec.utils import atomic_path, seed_everything

REPO = Path(__file__).resolve().parents[1]
NB21 = notebook_defaults("21_llmrec_train")  # the one home of these defaults


def train_one(ds, mode: str, seed: int, epochs: int) -> dict[str, float]:
    seed_everything(seed)
    cfg = LLMRecConfig(aug_sample_rate=0.0, recon_weight=0.0, **prune_settings(mode))
    backbone = LLMRecBackbone(Graph(ds.train), BackboneConfig(dim=NB21["EMBED_DIM"], layers=NB21["LAYERS"]), cfg)
    model = CFModel(backbone, NoAlignment(), reg_weight=NB21["REG_WEIGHT"])
    t0, c0 = time.perf_counter(), time.process_time()
    res = train_cf(model, ds, CFTrainConfig(epochs=epochs, batch_size=NB21["BATCH_SIZE"], lr=NB21["LR"],
                                            eval_every=NB21["EVAL_EVERY"], patience=NB21["PATIENCE"], progress=False),
                   Protocol(ks=(20,)), "cpu")
    return {"valid": res.valid.metrics["recall@20"], "test": res.test.metrics["recall@20"],
            "best": res.best_epoch, "run": res.epochs_run, "wall": time.perf_counter() - t0,
            "cpu": time.process_time() - c0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[2023, 2024])
    ap.add_argument("--epochs", type=int, default=NB21["EPOCHS"])
    ap.add_argument("--modes", nargs="+", default=list(PRUNE_MODES))
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "llmrec_pruning.md"))
    args = ap.parse_args()
    before = machine_summary("cpu")
    rows = []
    for seed in args.seeds:
        ds = load_dataset("ml100k", "rlmrec", seed=seed, min_rating=4)
        for mode in args.modes:
            r = train_one(ds, mode, seed, args.epochs)
            rows.append({"mode": mode, "seed": seed, **r})
            print(rows[-1], flush=True)
    lines = [f"# LLMRec pruning modes on ML-100K without augmentation (`{' '.join(['python', *__import__('sys').argv])}`)",
             "", f"Machine before: {before}", f"Machine after: {machine_summary('cpu')}", "",
             f"Notebook 21 defaults (dim {NB21['EMBED_DIM']}, {NB21['LAYERS']} layers, batch {NB21['BATCH_SIZE']}, "
             f"Adam {NB21['LR']:g}, L2 {NB21['REG_WEIGHT']:g}, <= {args.epochs} epochs, validation every "
             f"{NB21['EVAL_EVERY']}, patience {NB21['PATIENCE']}); no LLM pairs, no side features; split "
             "rlmrec 3:1:1 with the seed below (the split seed is the run seed, as in the notebooks); Recall@20, "
             "denominator |T|, training items masked; test at the best validation epoch.", "",
             "| mode | settings | seed | valid R@20 | test R@20 | best / run epochs | wall s | CPU s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {prune_settings(r['mode'])} | {r['seed']} | {r['valid']:.4f} | {r['test']:.4f} "
                     f"| {r['best']} / {r['run']} | {r['wall']:.1f} | {r['cpu']:.1f} |")
    lines += ["", "| mode | mean valid R@20 | mean test R@20 |", "|---|---|---|"]
    means = {}
    for mode in args.modes:
        v = np.mean([r["valid"] for r in rows if r["mode"] == mode])
        t = np.mean([r["test"] for r in rows if r["mode"] == mode])
        means[mode] = v
        lines.append(f"| {mode} | {v:.4f} | {t:.4f} |")
    best = max(means, key=means.get)
    lines += ["", f"Best mean validation Recall@20: `{best}`."]
    with atomic_path(Path(args.out)) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
