"""Two CPU processes (torchrun -> Accelerate DDP, gloo) train the same LEARN towers: each takes half of the
examples and the synchronised gradients keep both replicas identical."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import torch, torch.nn.functional as F
    from test_end_to_end import planted_dataset
    from lmrec.learn import LearnModel, TowerConfig, LearnTrainConfig, train, evaluate_towers
    from lmrec.train import make_accelerator
    torch.set_num_threads(1)
    ds = planted_dataset()
    torch.manual_seed(0)
    content = F.normalize(torch.randn(ds.n_items, 16), dim=-1)
    model = LearnModel(content, TowerConfig(input_dim=16, hidden_dim=32, n_layers=1, n_heads=2, output_dim=32,
                                            dropout=0.0, max_len=6))
    cfg = LearnTrainConfig(stage="pretrain", epochs=6, batch_size=32, lr=3e-3, samples_per_user=2, eval_every=6,
                      patience=0, seed=0, warmup_epochs=1.0, mask_history=True)
    acc = make_accelerator("cpu", cfg.mixed_precision)
    res = train(model, ds, cfg, max_len=6, accelerator=acc)
    digest = float(sum(p.double().sum() for p in model.parameters()))
    # one file per rank: the two processes share stdout, where their lines can interleave
    out = Path({out!r}) / f"rank{{acc.process_index}}.json"
    out.write_text(json.dumps({{"rank": acc.process_index, "world": acc.num_processes, "steps": res.steps,
                               "digest": digest}}))
""")


@pytest.mark.slow
def test_two_process_training_stays_in_sync(tmp_path):
    script = tmp_path / "ddp_learn.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)],
                         capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert sorted(r["rank"] for r in rows) == [0, 1] and all(r["world"] == 2 for r in rows)
    # 120 users x 2 cuts = 240 examples per epoch; per process 120 -> 4 batches of 32 -> 24 steps in 6 epochs
    assert all(r["steps"] == 24 for r in rows)
    assert rows[0]["digest"] == pytest.approx(rows[1]["digest"], rel=1e-6)
