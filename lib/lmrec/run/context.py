"""A notebook's run: its folder, seed, device, stage timings, and the ``metrics.json`` the report reads.

Every notebook calls :func:`start_run` after its parameters and :meth:`Run.finish` in its last cell.
Run by the runner, ``RUN_DIR`` names the folder; run by hand (``RUN_DIR = ""``), a fresh folder
``outputs/runs/<notebook>/manual-<time>`` is made, so interactive runs feed the report too.
"""

from __future__ import annotations

import inspect
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..paths import REPO_ROOT, runs_dir
from ..utils import resolve_device, seed_everything, use_deterministic_kernels, write_json
from .kernel_env import kernel_facts

TRACKED_PACKAGES = ("lmrec", "torch", "numpy", "scipy", "pandas", "transformers", "sentence-transformers",
                    "accelerate", "openai", "papermill", "torch-scatter", "torch-sparse")


@dataclass
class Run:
    notebook: str
    dir: Path
    params: dict[str, Any]
    seed: int
    device: torch.device
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    @contextmanager
    def timer(self, stage: str) -> Iterator[None]:
        """Time a stage; the seconds land in ``metrics.json`` under ``timings``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - t0

    def path(self, name: str) -> Path:
        """A file inside this run's folder."""
        return self.dir / name

    def finish(self, metrics: dict[str, float], table: str | None = None, row: str | None = None,
               caption: str = "", extra: dict[str, Any] | None = None, status: str | None = None) -> Path:
        """Write ``metrics.json`` (and ``env.json``). ``table``/``row`` place the metrics in a report table;
        ``caption`` states the evaluation protocol; ``extra`` holds anything else worth keeping (counts,
        throughput); ``status`` is the training's end (``converged`` | ``completed`` | ``capped``: a
        capped run is re-run, and resumed, by the runner). Returns the metrics file."""
        self.timings["total"] = time.time() - self.started
        record = {
            "notebook": self.notebook, "table": table, "row": row, "caption": caption, "status": status or "done",
            "metrics": {k: float(v) for k, v in metrics.items()},
            "params": self.params, "seed": self.seed, "device": str(self.device),
            "deterministic_kernels": torch.are_deterministic_algorithms_enabled(),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "extra": extra or {}, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
        }
        write_json(self.dir / "env.json", environment(self.device))
        path = self.dir / "metrics.json"
        write_json(path, record)
        return path


PLAIN = (str, int, float, bool, type(None), list, tuple, dict)  # what a parameters cell may hold


def namespace_parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a notebook namespace: its UPPER_CASE names bound to plain literals, ``RUN_DIR``
    excepted (it names where the run goes, not what it computes)."""
    return {k: v for k, v in namespace.items()
            if k.isupper() and not k.startswith("_") and k != "RUN_DIR" and isinstance(v, PLAIN)}


def start_run(notebook: str, run_dir: str = "", params: dict[str, Any] | None = None, seed: int = 2023,
              device: str = "auto", deterministic: bool | None = None) -> Run:
    """Open a run: make/choose its folder, seed everything, resolve the device.

    ``params`` None (the usual call from a notebook) records the caller's parameters itself: the
    UPPER_CASE plain values of the namespace that calls ``start_run`` (:func:`namespace_parameters`).

    ``deterministic`` (default: on for CPU, off for CUDA) picks torch's deterministic kernels, so that a
    same-seed re-run on the same machine gives the same numbers (see :func:`use_deterministic_kernels`)."""
    folder = Path(run_dir) if run_dir else runs_dir() / notebook / datetime.now().strftime("manual-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    dev = resolve_device(device)
    use_deterministic_kernels(dev.type == "cpu" if deterministic is None else deterministic)
    if params is None:
        caller = inspect.currentframe().f_back
        params = namespace_parameters(caller.f_globals if caller is not None else {})
    return Run(notebook=notebook, dir=folder, params=dict(params), seed=seed, device=dev)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        commit = out.stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{commit}{'-dirty' if dirty else ''}" if commit else None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary(device: torch.device | str | None = None) -> str:
    """One line for benchmark records: CPU, cores, GPU, torch and its threads, Python, current load average."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    gpu = f"; GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "; no GPU"
    dev = f"; device {device}" if device is not None else ""
    return (f"{cpu_name()}; {os.cpu_count()} logical cores{gpu}{dev}; torch {torch.__version__} with "
            f"{torch.get_num_threads()} thread(s); Python {platform.python_version()}; load average {load[0]:.2f}")


def environment(device: torch.device | None = None) -> dict[str, Any]:
    """Versions, device and machine facts recorded with every run."""
    versions = {}
    for pkg in TRACKED_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    info: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "packages": versions, "git_commit": git_commit(),
        "device": str(device) if device is not None else None, "cuda_available": torch.cuda.is_available(),
        "cpu": cpu_name(), "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info["kernel"] = kernel_facts()  # OpenMP/malloc variables, torch threads, CPU capability (bf16 native?)
    return info
