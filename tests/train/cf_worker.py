"""Trains LightGCN+Gen on the planted CF data with checkpoints in a folder; writes the final numbers as JSON.

    python -m tests.train.cf_worker OUT.json CHECKPOINT_DIR [SLOW_SECONDS_PER_EPOCH]

The optional delay per epoch gives a test time to kill the process mid-run."""

from __future__ import annotations

import json
import sys
import time

import torch

import lmrec.cf.trainer as trainer
from lmrec.cf.alignment import AlignmentTargets
from lmrec.cf.notebook import CFSpec, train_backbone
from lmrec.utils import seed_everything, use_deterministic_kernels
from tests.cf.cf_planted import planted_dataset, planted_profiles


def main(out: str, checkpoint_dir: str, delay: float = 0.0) -> None:
    seed_everything(0)
    use_deterministic_kernels(True)
    if delay:
        epoch_body = trainer.train_epoch

        def slow(*args, **kwargs):
            time.sleep(delay)
            return epoch_body(*args, **kwargs)

        trainer.train_epoch = slow
    ds = planted_dataset()
    up, ip = planted_profiles(ds)
    spec = CFSpec.from_notebook("lightgcn", {"ALIGNMENT": "gen", "EMBED_DIM": 8, "LAYERS": 2, "SEED": 0, "EPOCHS": 16,
                                             "BATCH_SIZE": 64, "LR": 0.02, "EVAL_EVERY": 2, "PATIENCE": 20}, progress=False)
    trained = train_backbone(spec, dataset=ds, checkpoint_dir=checkpoint_dir, targets=AlignmentTargets(up, ip))
    digest = float(sum(p.double().sum() for p in trained.model.state_dict().values() if torch.is_tensor(p)))
    with open(out, "w") as fh:
        json.dump({"test": trained.result.test.metrics, "best_epoch": trained.result.best_epoch, "digest": digest,
                   "losses": [h["loss"] for h in trained.result.history], "resumed_from": trained.result.resumed_from,
                   "status": trained.result.status}, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
