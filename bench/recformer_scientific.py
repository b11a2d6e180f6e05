"""Recformer on its own Amazon "Industrial & Scientific" finetune split (../shared/data/recformer_scientific).

The shared copy has item text for 1,585 of 5,327 items, so the run uses the subset of items with text and
the users whose validation and test items have text (printed), optionally a random sample of those users.
Bounded CPU run: MiniLM converted into the Longformer layout, a short pretraining on the subset's own
training sequences (the paper pretrains on seven other Amazon categories, which are not available here),
zero-shot test, two-stage finetuning with a step cap, best state on validation NDCG@10, test. Both
evaluation protocols are recorded (Recformer's: history kept; and history masked). Wall and process CPU
seconds per stage and the load average are recorded, since the machine is shared.

Not comparable with the paper's numbers: another backbone (MiniLM, 6 layers, 384-d, vs Longformer-base),
no Amazon pretraining corpus, short inputs, minutes of CPU training, and a text subset of the split.

Usage: OMP_NUM_THREADS=1 python bench/recformer_scientific.py [--max-users 0] [--pretrain-steps 30]
       [--steps 30] [--stage1 2] [--stage2 1] [--out bench/results/recformer_scientific.json]
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path

from lmrec.recformer import (
    RecformerConfig,
    RecformerTrainConfig,
    finetune,
    load_encoder,
    pretrain,
    tokenize_items,
)
from lmrec.recformer.pipeline import headline, prepare_data
from lmrec.recformer.train import evaluate_recformer
from lmrec.run.context import environment
from lmrec.seqrec import SEQ_PROTOCOL, LeaveOneOut
from lmrec.train import make_accelerator
from lmrec.utils import seed_everything, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/recformer_scientific"))
    ap.add_argument("--max-users", type=int, default=0)  # 0: every user of the text subset (the users LEARN and SASRec are scored on)
    ap.add_argument("--max-attr-length", type=int, default=12)
    ap.add_argument("--max-token-num", type=int, default=96)
    ap.add_argument("--pretrain-steps", type=int, default=30)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--stage1", type=int, default=2)
    ap.add_argument("--stage2", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--out", default="bench/results/recformer_scientific.json")
    args = ap.parse_args()

    timings: dict[str, dict[str, float]] = {}

    @contextmanager
    def timed(stage: str):
        w, c = time.perf_counter(), time.process_time()
        yield
        timings[stage] = {"wall_s": round(time.perf_counter() - w, 1), "cpu_s": round(time.process_time() - c, 1)}
        print(stage, timings[stage], flush=True)

    seed_everything(args.seed)
    with timed("data"):
        dataset, attrs, subset = prepare_data(f"recformer:{args.data}", "given", args.seed, max_users=args.max_users)
        loo = LeaveOneOut.from_dataset(dataset)
    print(dataset.describe(), subset, flush=True)
    config = RecformerConfig(max_attr_num=3, max_attr_length=args.max_attr_length, max_item_embeddings=51,
                             max_token_num=args.max_token_num, attention_window=64)
    tcfg = RecformerTrainConfig(batch_size=args.batch_size, eval_batch_size=128, max_steps_per_epoch=args.steps)
    acc = make_accelerator("cpu")
    with timed("model"):
        model, tok, info = load_encoder("minilm", config)
        items = tokenize_items(attrs, tok, config)
    with timed("pretrain"):
        hist = pretrain(model, tok, items, loo.train, tcfg, acc, max_steps=args.pretrain_steps, seed=args.seed, progress=False)
    with timed("zero_shot_test"):
        zero = evaluate_recformer(model, tok, items, dataset, "test", loo.history("test"), SEQ_PROTOCOL, both=True,
                                  batch_size=128)
    print("zero-shot", {k: headline(v) for k, v in zero.items()}, flush=True)
    with timed("finetune"):
        res = finetune(model, tok, items, dataset, loo.train, loo.history("valid"), SEQ_PROTOCOL, tcfg, acc,
                       args.stage1, args.stage2, progress=False, seed=args.seed)
    with timed("test"):
        test = evaluate_recformer(model, tok, items, dataset, "test", loo.history("test"), SEQ_PROTOCOL, both=True,
                                  item_table=res.item_table, batch_size=128)
    print("finetuned", {k: headline(v) for k, v in test.items()}, flush=True)
    record = {
        "dataset": dataset.stats(), "text_subset": subset, "args": vars(args), "config": config.to_dict(),
        "backbone": info, "pretrain_steps": len(hist), "pretrain_final_loss": hist[-1]["loss"],
        "zero_shot": {k: headline(v) for k, v in zero.items()},
        "finetuned": {k: headline(v) for k, v in test.items()},
        "best_valid_ndcg@10": res.best_valid, "best_stage": res.best_stage,
        "finetune_history": [{k: v for k, v in h.items() if k in ("stage", "epoch", "loss", "valid_ndcg@10", "valid_mrr", "seconds")}
                             for h in res.history],
        "timings": timings, "machine": {
            **environment(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
    }
    write_json(args.out, record)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
