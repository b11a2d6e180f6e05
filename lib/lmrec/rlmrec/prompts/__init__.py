"""RLMRec's profile prompts: one item and one user template per dataset family (``string.Template`` files)."""

from __future__ import annotations

from pathlib import Path

from ...llm.prompts import load_template as _load

PROMPTS_DIR = Path(__file__).parent
FAMILIES = ("movielens", "amazon-book", "yelp", "steam")


def load_template(name: str) -> str:
    """The text of ``rlmrec/prompts/<name>.txt`` (e.g. ``movielens_item``, ``yelp_user``)."""
    return _load(name, PROMPTS_DIR)
