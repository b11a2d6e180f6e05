"""Machine facts recorded with runs and benchmarks."""

import os

import torch

from lmrec.run.context import environment, machine_summary


def test_machine_summary_names_cores_torch_and_threads():
    line = machine_summary("cpu")
    assert f"{os.cpu_count()} logical cores" in line and f"torch {torch.__version__}" in line
    assert f"with {torch.get_num_threads()} thread(s)" in line and "device cpu" in line and "load average" in line


def test_environment_records_versions_and_cpu():
    env = environment()
    assert env["packages"]["torch"] == torch.__version__.split("+")[0] or env["packages"]["torch"] == torch.__version__
    assert env["cpu_count"] == os.cpu_count() and env["cpu"]
