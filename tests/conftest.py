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


# The notebook smoke run (one session fixture, ~7 min) is the suite's longest unit. Under pytest-xdist
# (`make test` runs two workers with --dist loadgroup) its tests form one group that is scheduled first, so
# one worker runs the notebooks while the other runs everything else; tryfirst: xdist reads the group
# marker in its own hook of the same name.
SMOKE_FIXTURE, SMOKE_GROUP = "smoke_outcomes", "notebook_smoke_run"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    smoke = [item for item in items if SMOKE_FIXTURE in getattr(item, "fixturenames", ())]
    for item in smoke:
        item.add_marker(pytest.mark.xdist_group(SMOKE_GROUP))
    items[:] = smoke + [item for item in items if SMOKE_FIXTURE not in getattr(item, "fixturenames", ())]
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device (none here)")
        for item in items:
            if item.get_closest_marker("gpu") is not None:  # not `"gpu" in item.keywords`: that matches a folder named gpu
                item.add_marker(skip)
