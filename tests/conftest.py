"""Shared test set-up: one CPU thread, run products in one temporary outputs folder, GPU skips."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

# Unit tests use tiny tensors: one thread is fastest, and two threads on a busy 2-core machine are
# several times slower. (Notebook runs are separate kernel processes with torch's default.)
torch.set_num_threads(1)

# All products of the session (downloads, caches, runs) go to a temporary folder, never the repo's
# outputs/; set LMREC_OUTPUTS yourself to keep or reuse them.
os.environ.setdefault("LMREC_OUTPUTS", tempfile.mkdtemp(prefix="lmrec-test-outputs-"))
# The one exception: the SmolLM2 folder converted from its GGUF (~30 s) is shared across sessions, in the
# repository's git-ignored outputs/cache/models, as the main job would make it.
os.environ.setdefault("LMREC_MODELS_DIR", str(Path(__file__).resolve().parents[1] / "outputs" / "cache" / "models"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LMREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


# The notebook smoke run (one session fixture, ~7 min) is the suite's longest unit. `make test` runs two
# pytest-xdist workers with --dist loadfile, so every test of tests/test_notebooks.py runs on one worker (one
# smoke run); its smoke tests are moved to the front so that file is handed out first and the other worker runs
# the rest of the suite beside it.
SMOKE_FIXTURE = "smoke_outcomes"


def pytest_collection_modifyitems(config, items):
    items[:] = sorted(items, key=lambda item: SMOKE_FIXTURE not in getattr(item, "fixturenames", ()))
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device (none here)")
        for item in items:
            if item.get_closest_marker("gpu") is not None:  # not `"gpu" in item.keywords`: that matches a folder named gpu
                item.add_marker(skip)
