"""CLLM4Rec on CLLM4Rec's own Amazon Beauty split (collaborative part only: no review texts are public).

Reads ``cllm4rec:<folder>`` (default ``../shared/data/cllm4rec_beauty``), pretrains the collaborative LM,
finetunes the masked-prompt recommendation head and evaluates the test split with the paper's metrics
(Recall@20/40 with denominator min(K,|T|), NDCG@100; training items masked). Writes a JSON record with the
numbers, timings, throughput and machine to ``bench/results/``. Sized for a CPU by ``--layers``,
``--users-per-epoch`` and ``--max-items``; on a GPU use ``--layers 0 --users-per-epoch 0``.

    OMP_NUM_THREADS=1 python bench/cllm4rec_beauty.py --layers 2 --users-per-epoch 2000
    accelerate launch --multi_gpu --num_processes 8 bench/cllm4rec_beauty.py --layers 0 --users-per-epoch 0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lmrec.cllm4rec import (
    CLLM4RecTrainer,
    FinetuneConfig,
    PretrainConfig,
    build_model,
    load_language_model,
)
from lmrec.data import load_dataset
from lmrec.eval import Protocol
from lmrec.run.context import environment
from lmrec.train import make_accelerator
from lmrec.utils import resolve_device, seed_everything, write_json

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "cllm4rec_beauty"))
    ap.add_argument("--lm", default="smollm2-135m-instruct")
    ap.add_argument("--layers", type=int, default=2, help="keep the first N blocks (0: all)")
    ap.add_argument("--max-items", type=int, default=10)
    ap.add_argument("--users-per-epoch", type=int, default=2000, help="0: all users")
    ap.add_argument("--pt-rounds", type=int, default=1)
    ap.add_argument("--ft-epochs", type=int, default=1)
    ap.add_argument("--pt-lr", type=float, default=1e-3)
    ap.add_argument("--ft-lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--eval-batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "cllm4rec_beauty.json"))
    args = ap.parse_args()

    if not Path(args.data).exists():
        raise SystemExit(f"{args.data}: CLLM4Rec Beauty split not found (meta.pkl + train/val/test_matrix.npz); "
                         "pass --data <folder>")
    seed_everything(args.seed)
    device = resolve_device(args.device)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    ds = load_dataset(f"cllm4rec:{args.data}", "given")
    items = ds.sequences("train")
    timings["data"] = time.perf_counter() - t
    print(ds.describe(), flush=True)

    t = time.perf_counter()
    lm, base_tok = load_language_model(args.lm, device, n_layers=args.layers)
    model, tok = build_model(lm, base_tok, ds.n_users, ds.n_items, device=device)
    timings["load_lm"] = time.perf_counter() - t
    accelerator = make_accelerator(device, find_unused_parameters=True)  # under `accelerate launch`: one process per GPU (DDP)
    trainer = CLLM4RecTrainer(model, tok, accelerator, log=lambda r: print(r, flush=True))

    t = time.perf_counter()
    trainer.pretrain(items, [], PretrainConfig(rounds=args.pt_rounds, lr=args.pt_lr, batch_size=args.batch_size,
                                               max_items=args.max_items, users_per_epoch=args.users_per_epoch,
                                               seed=args.seed))
    timings["pretrain"] = time.perf_counter() - t
    t = time.perf_counter()
    state, best = trainer.finetune(items, [], FinetuneConfig(epochs=args.ft_epochs, lr=args.ft_lr,
                                                             batch_size=args.batch_size, max_items=args.max_items,
                                                             users_per_epoch=args.users_per_epoch, seed=args.seed,
                                                             targets="masked", patience=0))  # as the recorded run
    model.load_trainable_state(state)
    timings["finetune"] = time.perf_counter() - t

    protocol = Protocol(ks=(20, 40, 100), recall_denominator="min_k")
    t = time.perf_counter()
    test = trainer.evaluate(ds, "test", items, args.max_items, protocol, args.eval_batch)
    timings["test"] = time.perf_counter() - t
    metrics = {k: test.metrics[k] for k in ("recall@20", "recall@40", "ndcg@100")}
    print(test.caption(), json.dumps(metrics), flush=True)
    record = {
        "benchmark": "cllm4rec_beauty (collaborative part only)", "args": vars(args), "metrics": metrics,
        "all_test_metrics": test.metrics, "caption": test.caption(), "n_test_users": test.n_users,
        "timings_s": {k: round(v, 1) for k, v in timings.items()}, "history": trainer.history,
        "machine": environment(device),
    }
    if accelerator.is_main_process:
        write_json(args.out, record)
        print("wrote", args.out)


if __name__ == "__main__":
    main()
