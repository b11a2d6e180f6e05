"""Start a local OpenAI-compatible server (``transformers serve``, extra ``transformers[serving]``) for the
``openai`` backend: offline integration tests, benchmarks, or serving a converted model to several workers.

The server is pinned to the model folder it starts with; requests must name that folder as ``model``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_transformers_serve(folder: str, port: int | None = None, threads: int = 1,
                             timeout_s: float = 240.0) -> tuple[subprocess.Popen, int]:
    """Start ``transformers serve <folder>`` on 127.0.0.1 (CPU, ``threads`` torch threads); wait for /health.

    Returns ``(process, port)``; stop it with ``process.terminate()``.
    """
    exe = shutil.which("transformers") or str(Path(sys.executable).parent / "transformers")
    if not Path(exe).exists() and shutil.which(exe) is None:
        raise FileNotFoundError("the `transformers` CLI is missing: pip install 'transformers[serving]'")
    port = port or free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen([exe, "serve", folder, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve {folder} exited with code {proc.returncode}; "
                               "is transformers[serving] (fastapi, uvicorn) installed?")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise TimeoutError(f"transformers serve did not answer http://127.0.0.1:{port}/health within {timeout_s} s")
