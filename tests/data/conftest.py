"""Fixtures of the data tests: the real reference splits in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmrec.paths import REPO_ROOT


def shared_data_root() -> Path:
    """``$LMREC_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("LMREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_folder():
    """``shared_folder("rlmrec_yelp")`` -> the folder, or skip with the reason it is absent."""

    def get(name: str) -> Path:
        folder = shared_data_root() / name
        if not folder.is_dir():
            pytest.skip(f"real split {folder} is absent (set LMREC_SHARED_DATA to the folder holding "
                        f"{name}/; a fresh clone has no ../shared/data)")
        return folder

    return get
