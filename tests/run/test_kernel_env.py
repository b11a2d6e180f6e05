"""The runner starts each notebook's kernel with the thread, OpenMP-wait and malloc settings."""

from __future__ import annotations

import json
import os

import pytest

from lmrec.run.kernel_env import kernel_env, kernel_environment
from lmrec.run.plan import build_plan
from lmrec.run.runner import run_plan

from .test_plan import make_notebook


def test_kernel_env_fills_what_the_user_left_unset():
    env = kernel_env({}, cpu_count=2)
    assert env["OMP_NUM_THREADS"] == "2" and env["OMP_WAIT_POLICY"] == "PASSIVE" and env["KMP_BLOCKTIME"] == "0"
    assert env["MALLOC_MMAP_MAX_"] == "0" and int(env["MALLOC_TRIM_THRESHOLD_"]) >= 1 << 28
    kept = kernel_env({"OMP_NUM_THREADS": "1", "MALLOC_MMAP_MAX_": "65536"}, cpu_count=2)
    assert "OMP_NUM_THREADS" not in kept and "MALLOC_MMAP_MAX_" not in kept and kept["OMP_WAIT_POLICY"] == "PASSIVE"
    assert kernel_env({}, cpu_count=0)["OMP_NUM_THREADS"] == "1"


def test_kernel_environment_is_restored_afterwards():
    environ = {"OMP_NUM_THREADS": "3", "PATH": "/bin"}
    with kernel_environment(environ) as added:
        assert environ["OMP_WAIT_POLICY"] == "PASSIVE" and environ["OMP_NUM_THREADS"] == "3"
        assert "OMP_NUM_THREADS" not in added
    assert environ == {"OMP_NUM_THREADS": "3", "PATH": "/bin"}


PROBE = ('import os, torch\n'
         'from lmrec.run import start_run\n'
         'run = start_run("00_probe", RUN_DIR, params=dict(A=A), seed=0, device="cpu")\n'
         'names = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")\n'
         'run.finish({"torch_threads": torch.get_num_threads()}, table="t", row="r", caption="c",\n'
         '           extra={k: os.environ.get(k) for k in names})')


@pytest.mark.slow
def test_runner_passes_the_environment_to_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir, "00_probe", 'A = 1  # a\nRUN_DIR = ""  # runner', PROBE)
    plan = build_plan([], {}, notebooks={"00_probe": nbdir / "00_probe.ipynb"})
    (outcome,) = run_plan(plan, echo=lambda s: None)
    assert outcome.status == "done", outcome.error
    record = json.loads((outcome.folder / "metrics.json").read_text())
    expected = kernel_env({})
    assert record["extra"] == {k: expected[k] for k in record["extra"]}
    assert record["metrics"]["torch_threads"] == float(expected["OMP_NUM_THREADS"])
    env_json = json.loads((outcome.folder / "env.json").read_text())
    assert env_json["kernel"]["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env_json["kernel"]["cpu_capability"]["torch"]
    assert "OMP_WAIT_POLICY" not in os.environ   # the runner's own environment is left as it was

    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # a user's choice wins
    (outcome,) = run_plan(plan, force=True, echo=lambda s: None)
    record = json.loads((outcome.folder / "metrics.json").read_text())
    assert record["extra"]["OMP_NUM_THREADS"] == "1" and record["metrics"]["torch_threads"] == 1.0
