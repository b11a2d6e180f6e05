"""LEARN on Recformer's Amazon "Industrial & Scientific" finetune split (the format LEARN's code also reads).

Reads ``recformer:<folder>`` (default ``../shared/data/recformer_scientific``). The copy has text for 1,585
of its 5,327 items, so the run uses the subset of items with text and the users whose validation and test
items both have text (targets unchanged; textless items dropped from histories). Embeds the item texts with
the frozen LLM (cached), pretrains the towers (in-batch softmax), finetunes them (full softmax), selects on
validation NDCG@10 under ``--mask-history`` (default: notebook 40's ``MASK_HISTORY``) and reports test NDCG@10 /
Recall@10 / MRR (+@50) under both protocols (history masked, and not masked as Recformer's evaluator). Writes a JSON
record with numbers, timings and the machine to ``bench/results/learn_scientific.json``.

    OMP_NUM_THREADS=1 python bench/learn_scientific.py
    accelerate launch bench/learn_scientific.py --llm baichuan-inc/Baichuan2-7B-Base --llm-dtype float16 ...
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from lmrec.defaults import notebook_defaults
from lmrec.learn import ContentConfig, LearnModel, LearnTrainConfig, TowerConfig, evaluate_towers, train
from lmrec.learn.pipeline import content_vectors, prepare_data
from lmrec.run.context import environment
from lmrec.seqrec import LeaveOneOut
from lmrec.seqrec.evaluate import sequential_metrics
from lmrec.utils import resolve_device, seed_everything, write_json

ROOT = Path(__file__).resolve().parents[1]
STAGE_NOTEBOOKS = {"pretrain": "40_learn_pretrain", "finetune": "41_learn_finetune"}


def stage_config(stage: str, epochs: int, batch_size: int, seed: int, mask_history: bool) -> LearnTrainConfig:
    """One stage's training: its notebook's (40: pretrain, 41: finetune) learning rate, warm-up, samples per user
    and validation cadence, with this benchmark's epochs, batch size and seed."""
    nb = notebook_defaults(STAGE_NOTEBOOKS[stage])
    return LearnTrainConfig(stage=stage, epochs=epochs, batch_size=batch_size, lr=nb["LR"],
                            samples_per_user=nb["SAMPLES_PER_USER"], warmup_epochs=nb["WARMUP_EPOCHS"],
                            eval_every=nb["EVAL_EVERY"], patience=nb["PATIENCE"], seed=seed, mask_history=mask_history)


def main(argv: list[str] | None = None) -> dict:
    tower = notebook_defaults("40_learn_pretrain")   # the towers' shape: notebook 40's, not typed again here
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "recformer_scientific"))
    p.add_argument("--llm", default="smollm2-135m-instruct")
    p.add_argument("--llm-max-length", type=int, default=32)
    p.add_argument("--llm-dtype", default="float32")
    p.add_argument("--hidden", type=int, default=tower["HIDDEN_DIM"])
    p.add_argument("--layers", type=int, default=tower["LAYERS"])
    p.add_argument("--output-dim", type=int, default=tower["OUTPUT_DIM"])
    p.add_argument("--max-len", type=int, default=tower["MAX_LEN"])
    p.add_argument("--mask-history", choices=("true", "false"), default=str(tower["MASK_HISTORY"]).lower(),
                   help="the selection's (and headline's) protocol; false: Recformer's evaluator (LEARN's published)")
    p.add_argument("--pretrain-epochs", type=int, default=10)
    p.add_argument("--finetune-epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--device", default="auto")
    p.add_argument("--vectors", default="", help="item vectors .npy (bench/scientific.py learn-vectors) instead of the LLM")
    p.add_argument("--records-dir", default="", help="also write one record per row for bench/scientific.py collect")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "learn_scientific.json"))
    args = p.parse_args(argv)
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data}: missing; point --data at Recformer's finetune folder (smap.json, train.json, "
                         "val.json, test.json, item_text.tsv or meta_data.json)")
    seed_everything(args.seed)
    device = resolve_device(args.device)
    mask = args.mask_history == "true"
    t0 = time.perf_counter()
    dataset, subset = prepare_data(f"recformer:{args.data}", "given", args.seed)
    loo = LeaveOneOut.from_dataset(dataset)
    print(dataset.describe(), subset, flush=True)
    t = time.perf_counter()
    if args.vectors:  # computed elsewhere (a GPU machine has no LLM weights): one row per item of this dataset
        import numpy as np
        import torch

        content, embed_stats = torch.as_tensor(np.load(args.vectors)), {"from": args.vectors}
        if content.shape[0] != dataset.n_items:
            raise SystemExit(f"{args.vectors}: {content.shape[0]} rows, but {args.data} has {dataset.n_items} items")
    else:
        content, embed_stats = content_vectors(dataset, ContentConfig(model=args.llm, max_length=args.llm_max_length,
                                                                      device=str(device), dtype=args.llm_dtype))
    embed_s = time.perf_counter() - t
    print("content", tuple(content.shape), embed_stats, f"{embed_s:.1f} s", flush=True)
    model = LearnModel(content, TowerConfig(input_dim=content.shape[1], hidden_dim=args.hidden, n_layers=args.layers,
                                            n_heads=tower["N_HEADS"], output_dim=args.output_dim,
                                            max_len=args.max_len)).to(device)
    stages = {}
    for stage, epochs in (("pretrain", args.pretrain_epochs), ("finetune", args.finetune_epochs)):
        cfg = stage_config(stage, epochs, args.batch_size, args.seed, mask)
        cpu0 = time.process_time()
        res = train(model, dataset, cfg, args.max_len, device, loo=loo)
        test = {m: evaluate_towers(model, dataset, "test", loo, args.max_len, mask_history=m) for m in (True, False)}
        stages[stage] = {"best_epoch": res.best_epoch, "valid_ndcg@10": res.best_metric, "steps": res.steps,
                         "seconds": round(res.seconds, 1), "seconds_per_step": round(res.seconds / max(1, res.steps), 4),
                         "cpu_seconds": round(time.process_time() - cpu0, 1), "status": getattr(res, "status", "completed"),
                         "mask_history": mask, "test": sequential_metrics(test[mask]),
                         "test_masked": sequential_metrics(test[True]), "test_unmasked": sequential_metrics(test[False]),
                         "caption": test[mask].caption()}
        print(stage, stages[stage], flush=True)
    record = {
        "benchmark": "LEARN on recformer_scientific (items with text)", "data": subset,
        "dataset": dataset.describe(), "args": vars(args), "content": {**embed_stats, "seconds": round(embed_s, 1),
                                                                      "dim": int(content.shape[1])},
        "stages": stages, "total_seconds": round(time.perf_counter() - t0, 1),
        "machine": {**environment(device), "omp_threads": os.environ.get("OMP_NUM_THREADS")},
    }
    write_json(args.out, record)
    if args.records_dir:  # the rows of the Scientific table, both protocols
        for stage, row in (("pretrain", "LEARN (pretrained)"), ("finetune", "LEARN (finetuned)")):
            st = stages[stage]
            write_json(Path(args.records_dir) / f"learn_{stage}_{args.seed}.json",
                       {"row": row, "seed": args.seed, "test_masked": st["test_masked"],
                        "test_unmasked": st["test_unmasked"], "mask_history": mask, "status": st["status"],
                        "best_epoch": st["best_epoch"], "cpu_seconds": st["cpu_seconds"], "data": args.data})
    print(json.dumps(stages, indent=1))
    return record


if __name__ == "__main__":
    main()
