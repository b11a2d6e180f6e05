"""LLM tests: reuse one converted SmolLM2 folder across test sessions (the conversion takes ~30 s)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("LMREC_MODELS_DIR", str(Path(__file__).resolve().parents[2] / "outputs" / "cache" / "models"))
