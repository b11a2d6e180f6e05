"""Two processes (torchrun, gloo on CPU) run the same training code as one: weights stay in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_training_keeps_replicas_identical(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    # each process sees half the users per epoch: 64 users / (8 x 2) = 4 steps per epoch
    assert ranks[0]["steps"] == ranks[1]["steps"] == 8
    assert ranks[0]["weights"] == pytest.approx(ranks[1]["weights"], rel=1e-9)
    assert ranks[0]["best_valid"] == pytest.approx(ranks[1]["best_valid"])
