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


@pytest.mark.slow
def test_gpu_scientific_smoke_recformer_rows(tmp_path):
    """SCIENTIFIC_ROWS=recformer: pretraining, zero-shot, finetuning and test through the library (no MiniLM, no
    notebook), one record per row in the keys collect reads, both protocols."""
    env = {**device_like_env(tmp_path), "SCIENTIFIC_ROWS": "recformer"}
    proc = subprocess.run(["bash", "bench/gpu_scientific.sh", "--smoke"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "failed: none" in proc.stdout and "== rows: recformer" in proc.stdout
    out = tmp_path / "out"
    assert not (out / "sasrec_2023.json").exists() and not (out / "mostpop.json").exists()
    fine = json.loads((out / "recformer_finetuned_2023.json").read_text())
    zero = json.loads((out / "recformer_zero_shot_2023.json").read_text())
    for rec in (fine, zero):
        for proto in ("test_unmasked", "test_masked"):
            assert set(rec[proto]) == {"ndcg@10", "recall@10", "mrr", "ndcg@50", "recall@50"}
            assert all(0 <= v <= 1 for v in rec[proto].values())
        assert rec["test_users"] == 40 and rec["valid_users"] == 40  # every user of the smoke folder
    assert fine["test_masked"] != fine["test_unmasked"]
    assert fine["status"] in ("converged", "epoch_limit") and fine["epochs_run"] == len(fine["history"]) >= 2
    assert fine["pretraining"]["steps"] == 3 and fine["device"] == "cpu"
    table = json.loads((out / "scientific.json").read_text())
    assert set(table["rows"]) == {"Recformer (finetuned)", "Recformer (zero-shot)"}
