"""LLMRec's recommender without augmentation on LLMRec's own Netflix split (no features are public here).

Reads ``llmrec:<folder>`` (default ``../shared/data/llmrec_netflix``: ``train_mat``, ``train.json``,
``val.json``, ``test.json``), trains the plain LLMRec backbone (LightGCN, mean of layers; no side features,
no augmented pairs; optional pruning) with the shared CF trainer, and evaluates with LLMRec's metrics
(Recall/NDCG/Precision at 10, 20, 50; denominator |T|; training items masked). In the published split
``val.json`` equals ``test.json``, so "selection on validation" is selection on the test users' items:
the record says so. Writes a JSON record (numbers, timings, machine) to ``bench/results/``.

    OMP_NUM_THREADS=1 python bench/llmrec_netflix.py --epochs 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lmrec.cf import BackboneConfig, CFModel, CFTrainConfig, Graph, NoAlignment, fit
from lmrec.data import load_dataset
from lmrec.eval import Protocol
from lmrec.llmrec.model import LLMRecBackbone, LLMRecConfig
from lmrec.run.context import environment
from lmrec.utils import resolve_device, seed_everything, write_json

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "llmrec_netflix"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--drop-rate", type=float, default=0.0)
    ap.add_argument("--prune-keep", default="low")
    ap.add_argument("--eval-every", type=int, default=2)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "llmrec_netflix.json"))
    args = ap.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data}: LLMRec's Netflix split is absent (see ../shared/data/README.md)")
    seed_everything(args.seed)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    ds = load_dataset(f"llmrec:{args.data}", "given")
    t_load = time.perf_counter() - t0
    print(ds.describe())
    same = (ds.valid != ds.test).nnz == 0
    backbone = LLMRecBackbone(Graph(ds.train, device=device), BackboneConfig(dim=args.dim, layers=args.layers),
                              LLMRecConfig(aug_sample_rate=0.0, drop_rate=args.drop_rate, prune_keep=args.prune_keep,
                                           recon_weight=0.0))
    model = CFModel(backbone, NoAlignment(), reg_weight=1e-6).to(device)
    protocol = Protocol(ks=(10, 20, 50))
    res = fit(model, ds, CFTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                     eval_every=args.eval_every, patience=args.patience, progress=True),
              protocol, device)
    test = {k: round(v, 5) for k, v in res.test.metrics.items() if k.split("@")[0] in ("recall", "ndcg", "precision")}
    record = {
        "bench": "llmrec_netflix", "what": "LLMRec backbone without augmentation (LightGCN mean of layers)",
        "data": args.data, "stats": ds.stats(), "valid_equals_test": bool(same), "args": vars(args),
        "test": test, "valid_recall@20": res.valid.metrics["recall@20"], "caption": res.test.caption(),
        "train": res.summary(), "load_seconds": round(t_load, 2), "machine": environment(device),
    }
    write_json(args.out, record)
    print(json.dumps({"test": test, **res.summary()}, indent=1))


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
