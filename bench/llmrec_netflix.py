"""LLMRec's baselines (LightGCN, MF-BPR) on LLMRec's own Netflix split (no features are public here).

Reads ``llmrec:<folder>`` (default ``../shared/data/llmrec_netflix``: ``train_mat``, ``train.json``,
``val.json``, ``test.json``), trains the plain LLMRec backbone (LightGCN, mean of layers; no side features,
no augmented pairs; optional pruning) with the shared CF trainer, and evaluates with LLMRec's metrics
(Recall/NDCG/Precision at 10, 20, 50; denominator |T|; training items masked). In the published split
``val.json`` equals ``test.json``, so "selection on validation" is selection on the test users' items:
the record says so. Writes a JSON record (numbers, timings, machine) to ``bench/results/``.

Training checkpoints in ``--checkpoint-dir`` (default ``outputs/bench/llmrec_netflix/<model>``); with
``--time-limit`` the run stops as ``capped`` and the same command resumes it. ``--model mf`` is MF-BPR (the
same embeddings with no propagation layer). ``--model llmrec`` is LLMRec itself and needs LLMRec's feature files
in ``--data`` (``image_feat.npy``, ``text_feat.npy``, ``augmented_user_init_embedding``,
``augmented_atttribute_embedding_dict``, ``augmented_sample_dict``: LLMRec's own Netflix folder; they are not public
here), read by :func:`lmrec.llmrec.released.released_inputs`; it uses the released code's LLMRec settings
(:class:`lmrec.llmrec.model.LLMRecConfig` defaults).

    OMP_NUM_THREADS=1 python bench/llmrec_netflix.py --model lightgcn --time-limit 3000
    OMP_NUM_THREADS=1 python bench/llmrec_netflix.py --model mf --time-limit 3000
    OMP_NUM_THREADS=1 python bench/llmrec_netflix.py --model llmrec --data <LLMRec's netflix folder>
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lmrec.cf import BackboneConfig, CFModel, CFTrainConfig, Graph, NoAlignment, train_cf
from lmrec.data import load_dataset
from lmrec.eval import Protocol
from lmrec.llmrec.model import LLMRecBackbone, LLMRecConfig
from lmrec.llmrec.released import released_inputs
from lmrec.run.context import environment
from lmrec.utils import resolve_device, seed_everything, write_json

REPO = Path(__file__).resolve().parents[1]


ROWS = {"lightgcn": "LightGCN", "mf": "MF-BPR", "llmrec": "LLMRec"}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "llmrec_netflix"))
    ap.add_argument("--model", choices=("lightgcn", "mf", "llmrec"), default="lightgcn")
    ap.add_argument("--epochs", type=int, default=1000)   # LLMRec's --epoch
    ap.add_argument("--dim", type=int, default=64)        # LLMRec's --embed_size
    ap.add_argument("--layers", type=int, default=2)      # LightGCN only (LLMRec's weight_size [64, 64])
    ap.add_argument("--batch-size", type=int, default=1024)  # LLMRec's --batch_size
    ap.add_argument("--lr", type=float, default=5e-3)
    # sum of squares over all embedding rows (the shared CF trainer's reg), unlike LLMRec's decay 1e-5, which weighs
    # only the batch's rows, divided by the batch size: 1e-5 on every row held LightGCN at R@20 0.024 for 20 epochs
    ap.add_argument("--reg-weight", type=float, default=1e-6)
    ap.add_argument("--drop-rate", type=float, default=0.0)
    ap.add_argument("--prune-keep", default="low")
    ap.add_argument("--eval-every", type=int, default=5)  # LLMRec's --verbose
    ap.add_argument("--patience", type=int, default=7)    # LLMRec's --early_stopping_patience
    ap.add_argument("--time-limit", type=float, default=0, help="training seconds for this call (0: none)")
    ap.add_argument("--checkpoint-dir", default="")
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quiet", action="store_true", help="no JSON on stdout (tests)")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    args.out = args.out or str(REPO / "bench" / "results" / f"llmrec_netflix_{args.model}.json")
    args.checkpoint_dir = args.checkpoint_dir or str(REPO / "outputs" / "bench" / "llmrec_netflix" / args.model)
    layers = 0 if args.model == "mf" else args.layers
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data}: LLMRec's Netflix split is absent (see ../shared/data/README.md)")
    seed_everything(args.seed)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    ds = load_dataset(f"llmrec:{args.data}", "given")
    t_load = time.perf_counter() - t0
    print(ds.describe())
    same = (ds.valid != ds.test).nnz == 0
    graph = Graph(ds.train, device=device)
    if args.model == "llmrec":  # LLMRec itself: its feature files, its released settings
        inputs = released_inputs(args.data, ds.n_users, ds.n_items)
        backbone = LLMRecBackbone(graph, BackboneConfig(dim=args.dim, layers=layers), LLMRecConfig(recon_weight=0.0), **inputs.kwargs())
    else:
        backbone = LLMRecBackbone(graph, BackboneConfig(dim=args.dim, layers=layers),
                                  LLMRecConfig(aug_sample_rate=0.0, drop_rate=args.drop_rate, prune_keep=args.prune_keep,
                                               recon_weight=0.0))
    model = CFModel(backbone, NoAlignment(), reg_weight=args.reg_weight).to(device)
    protocol = Protocol(ks=(10, 20, 50))
    res = train_cf(model, ds, CFTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                            eval_every=args.eval_every, patience=args.patience, progress=False,
                                            time_limit_s=args.time_limit or None),
                   protocol, device, checkpoint_dir=args.checkpoint_dir)
    test = {k: round(v, 5) for k, v in res.test.metrics.items() if k.split("@")[0] in ("recall", "ndcg", "precision")}
    record = {
        "bench": "llmrec_netflix", "what": ROWS[args.model] + " on LLMRec's Netflix split",
        "data": args.data, "stats": ds.stats(), "valid_equals_test": bool(same), "args": vars(args),
        "test": test, "valid_recall@20": res.valid.metrics["recall@20"], "caption": res.test.caption(),
        "train": res.summary(), "history": res.history, "load_seconds": round(t_load, 2), "machine": environment(device),
    }
    record["rows"] = {ROWS[args.model]: {"metrics": test, "seeds": 1, "status": res.status}}  # reproduction table
    write_json(args.out, record)
    if not args.quiet:
        print(json.dumps({"test": test, **res.summary()}, indent=1))
    return record


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
