"""Worker for test_distributed: a short CLLM4Rec run under torchrun/accelerate; prints one JSON line per rank."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import torch

HERE = Path(__file__).parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    from lmrec.cllm4rec import (
        CLLM4RecTrainer,
        FinetuneConfig,
        PretrainConfig,
        build_model,
    )
    from lmrec.train import make_accelerator

    fixtures, e2e = _load("conftest"), _load("test_end_to_end")
    ALL_DOCS = e2e.ALL_DOCS  # noqa: N806
    torch.manual_seed(0)
    base = fixtures.make_tokenizer()
    ds = e2e.planted_dataset()
    model, tok = build_model(fixtures.make_lm(len(base), hidden=16), base, ds.n_users, ds.n_items)
    acc = make_accelerator("cpu", find_unused_parameters=True)
    trainer = CLLM4RecTrainer(model, tok, acc)
    items = ds.sequences("train")
    docs = [(f"item_{i} is described as:", "great fun" if i < 6 else "too long") for i in range(ds.n_items)]
    trainer.pretrain(items, docs, PretrainConfig(rounds=2, lr=5e-2, batch_size=4, max_items=8, lambda_v=0.1, seed=0, **ALL_DOCS))
    trainer.finetune(items, docs, FinetuneConfig(epochs=2, lr=5e-2, content_lr=5e-2, batch_size=4, max_items=8,
                                                 lambda_v=0.1, seed=0, targets="masked", patience=0, **ALL_DOCS))
    tables = {k: float(v.sum()) for k, v in model.trainable_state().items()}
    # one file per rank: the two processes share stdout, where their lines can interleave
    out = Path(os.environ["LMREC_OUTPUTS"]) / f"rank{acc.process_index}.json"
    out.write_text(json.dumps({"rank": acc.process_index, "world": acc.num_processes, "tables": tables,
                               "steps": len(trainer.history)}))


if __name__ == "__main__":
    main()
