"""Two CPU processes (torchrun, gloo): Accelerate's DDP keeps the user/item tables identical on every rank."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_process_training_keeps_ranks_in_sync(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LMREC_OUTPUTS": str(tmp_path)}
    out = subprocess.run([torchrun, "--nproc_per_node", "2", "--standalone",
                          str(Path(__file__).parent / "ddp_worker.py")],
                         capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert sorted(r["rank"] for r in rows) == [0, 1] and all(r["world"] == 2 for r in rows)
    assert rows[0]["tables"] == rows[1]["tables"]  # gradients were all-reduced
    assert rows[0]["steps"] == rows[1]["steps"] > 0
