"""bench/gpu_scientific.sh at tiny size (--smoke) on CPU, under a Python that cannot import what the GPU machines'
image lacks, and the records bench/scientific.py collect turns into the Scientific table."""

from __future__ import annotations

import json
import subprocess

import pytest

from .test_gpu_scripts import REPO, device_like_env


@pytest.mark.slow
def test_gpu_scientific_smoke_writes_every_row(tmp_path):
    proc = subprocess.run(["bash", "bench/gpu_scientific.sh", "--smoke"], cwd=REPO, env=device_like_env(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "failed: none" in proc.stdout
    out = tmp_path / "out"
    for seed in (2023, 2024):
        rec = json.loads((out / f"sasrec_{seed}.json").read_text())
        assert rec["row"] == "SASRec" and rec["config"]["mask_history"] is False  # params/scientific's protocol
        for proto in ("test_unmasked", "test_masked"):
            assert set(rec[proto]) == {"ndcg@10", "recall@10", "mrr", "ndcg@50", "recall@50"}
            assert all(0 <= v <= 1 for v in rec[proto].values())
        assert rec["epochs_run"] == len([h for h in rec["history"] if "loss" in h]) == 3
        for stage in ("pretrain", "finetune"):
            assert json.loads((out / f"learn_{stage}_{seed}.json").read_text())["row"].startswith("LEARN")
    table = json.loads((out / "scientific.json").read_text())
    assert set(table["rows"]) == {"MostPop", "SASRec", "LEARN (pretrained)", "LEARN (finetuned)"}
    assert table["rows"]["SASRec"]["seeds"] == 2 and table["rows"]["SASRec"]["status"] == "capped"  # 3 epochs
    pop = json.loads((out / "mostpop.json").read_text())
    assert pop["test_masked"] != pop["test_unmasked"]
    assert table["paired_vs_sasrec_ndcg@10"]["LEARN (finetuned)"]["masked"][2] == 2  # paired over both seeds
