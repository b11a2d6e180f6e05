"""Prompt templates (``string.Template`` text files, ``$name`` placeholders), one pair per dataset family."""

from __future__ import annotations

from pathlib import Path

PROMPTS_DIR = Path(__file__).parent
FAMILIES = ("movielens", "amazon-book", "yelp", "steam")


def load_template(name: str) -> str:
    """The text of ``prompts/<name>.txt`` (e.g. ``movielens_item``, ``repair``)."""
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.exists():
        have = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
        raise FileNotFoundError(f"prompt template {path} does not exist; available: {have}")
    return path.read_text().strip()
