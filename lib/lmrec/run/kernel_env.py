"""The environment the runner gives the notebooks' kernels: thread count, OpenMP wait policy, malloc.

Measured on the project's shared 2-core machine (``bench/results/kernel_threads.md``): torch's OpenMP threads
spin while they wait at a barrier, so beside another busy process two threads ran LightGCN 6x slower than with
a passive wait policy (21 s vs 3.6 s); with ``OMP_WAIT_POLICY=PASSIVE`` one more busy process slowed LightGCN
1.5x and SmolLM2 generation 2.2x, and two threads still generated 1.2x faster than one. glibc hands large
freed buffers (InfoNCE logits, hundreds of MB) back to the OS and page-faults them in again every step;
keeping them mapped (``MALLOC_MMAP_MAX_=0`` and a high trim threshold) removed most of that kernel time
(issue 13: a SimGCL Yelp epoch 116 -> 68 CPU-s).

Values already set in the runner's environment win: a user's ``OMP_NUM_THREADS=1`` is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

MALLOC_TRIM_THRESHOLD = str(1 << 30)   # 1 GiB of free heap is kept before glibc trims it

KERNEL_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME",
                    "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def kernel_env(environ: Mapping[str, str] | None = None, cpu_count: int | None = None) -> dict[str, str]:
    """The variables to add for a notebook kernel: threads = the usable cores, passive OpenMP waiting
    (GNU and Intel OpenMP), large buffers kept mapped. Variables present in ``environ`` are left out."""
    environ = os.environ if environ is None else environ
    if cpu_count is None:
        cpu_count = usable_cores()
    wanted = {
        "OMP_NUM_THREADS": str(max(1, cpu_count)),
        "OMP_WAIT_POLICY": "PASSIVE",          # libgomp: sleep at barriers instead of spinning
        "KMP_BLOCKTIME": "0",                  # the same for Intel OpenMP (libiomp), where a build uses it
        "MALLOC_MMAP_MAX_": "0",               # large buffers from the heap, not fresh mmaps ...
        "MALLOC_TRIM_THRESHOLD_": MALLOC_TRIM_THRESHOLD,  # ... and kept there between steps
    }
    return {k: v for k, v in wanted.items() if k not in environ}


@contextmanager
def kernel_environment(environ: dict[str, str] | None = None, threads: int | None = None) -> Iterator[dict[str, str]]:
    """Set :func:`kernel_env` in ``environ`` (default ``os.environ``, which a kernel started inside
    inherits) for the duration of the block, with ``threads`` threads (default: the usable cores); the previous
    values are restored afterwards."""
    environ = os.environ if environ is None else environ
    added = kernel_env(environ, cpu_count=threads)
    environ.update(added)
    try:
        yield added
    finally:
        for key in added:
            environ.pop(key, None)


def kernel_facts() -> dict[str, Any]:
    """What a run records about its kernel: the variables above as set, torch's threads and CPU capability."""
    import torch

    from ..llm.hf import cpu_capability

    return {"env": {k: os.environ[k] for k in KERNEL_VARIABLES if k in os.environ},
            "torch_threads": torch.get_num_threads(), "cpu_capability": cpu_capability()}
