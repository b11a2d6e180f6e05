"""Prompt templates (``string.Template`` text files, ``$name`` placeholders) of the generic LLM layer: the repair
instruction of structured output. Method packages keep their own prompts (``lmrec.rlmrec.prompts``)."""

from __future__ import annotations

from pathlib import Path

PROMPTS_DIR = Path(__file__).parent


def load_template(name: str, folder: Path = PROMPTS_DIR) -> str:
    """The text of ``<folder>/<name>.txt`` (default folder: this one, e.g. ``repair``)."""
    path = Path(folder) / f"{name}.txt"
    if not path.exists():
        have = sorted(p.stem for p in Path(folder).glob("*.txt"))
        raise FileNotFoundError(f"prompt template {path} does not exist; available: {have}")
    return path.read_text().strip()
