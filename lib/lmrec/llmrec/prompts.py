"""Prompt builders of LLMRec's three augmentations (WSDM'24, arXiv 2311.00423, Sec. 3.1 and its README).

Items are shown as ``[label] Title (year), Genre|Genre`` as in the paper's MovieLens prompts. A user's
history comes from the TRAINING split only (validation/test items never reach the LLM) and is capped at
the ``max_history`` most recent items (the released code sends the whole history; the cap keeps prompts
short enough for the offline CPU model). Each builder returns the user message and an optional answer
prefix (``prefill``) that a chat backend may put at the start of the assistant turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .parsing import ATTRIBUTE_FIELDS, PROFILE_FIELDS


@dataclass(frozen=True)
class AugmentPrompt:
    """One LLM request: the user message, the answer prefix, and the candidate labels (pairs only)."""

    text: str
    prefill: str = ""
    labels: tuple[str, ...] = ()
    candidates: tuple[int, ...] = ()


def item_line(item_text, item: int, label: str | int | None = None) -> str:
    """``[label] Title (year), Genre|Genre`` for one item of an ``item_text`` frame (title, year, genres)."""
    row = item_text.iloc[int(item)]
    title = str(row.get("title", f"item {item}"))
    year = str(row.get("year", "") or "").strip()
    genres = "|".join(str(row.get("genres", "") or "").split())
    text = f"{title} ({year})" if year and year != "nan" else title
    if genres:
        text += f", {genres}"
    return f"[{label}] {text}" if label is not None else text


def history_items(train_sequence: np.ndarray, max_history: int) -> np.ndarray:
    """The most recent ``max_history`` training items of a user (time order kept); 0 keeps all."""
    seq = np.asarray(train_sequence)
    return seq[-max_history:] if max_history and len(seq) > max_history else seq


def _history_block(item_text, history: Sequence[int]) -> str:
    return "User history:\n" + "\n".join(item_line(item_text, i) for i in history) + "\n"


def implicit_feedback_prompt(item_text, history: Sequence[int], candidates: Sequence[int],
                             label_mode: str = "position") -> AugmentPrompt:
    """Ask for the user's favourite and least favourite movie among ``candidates`` (paper: top-k of a
    base recommender, not in the history); the answer format is ``liked::disliked``.

    ``label_mode="position"`` labels candidates 0..k-1 (single digits a small model copies reliably);
    ``"item_id"`` labels them with their item ids as the paper's prompt does."""
    if label_mode not in ("position", "item_id"):
        raise ValueError(f"label_mode={label_mode!r}; use 'position' or 'item_id'")
    labels = [str(j) if label_mode == "position" else str(int(i)) for j, i in enumerate(candidates)]
    cands = "Candidates:\n" + "\n".join(item_line(item_text, i, lb) for lb, i in zip(labels, candidates)) + "\n"
    text = ("You are a movie recommendation system. Based on the user's history (title, year, genre), pick "
            "the candidate the user likes most and the one the user likes least.\n" + _history_block(item_text, history)
            + cands + "Answer with the two candidate indices separated by '::' (liked::disliked), nothing else.")
    return AugmentPrompt(text=text, prefill="", labels=tuple(labels), candidates=tuple(int(i) for i in candidates))


def user_profile_prompt(item_text, history: Sequence[int]) -> AugmentPrompt:
    """Ask for the user profile JSON (age, gender, liked/disliked genres, liked directors, country,
    language) from the user's history; the prefill opens the JSON object and its first string value
    (string values throughout let a failed answer be continued field by field)."""
    keys = ", ".join(f'"{f}": "..."' for f in PROFILE_FIELDS)
    text = ("Generate a user profile based on the user's movie history, each movie with title, year and genre.\n"
            + _history_block(item_text, history) +
            f"Output one JSON object {{{keys}}} with a short string per field. Do not write 'unknown': make an "
            "educated guess. Output only the JSON.")
    return AugmentPrompt(text=text, prefill='{"age": "')


def item_attribute_prompt(item_text, item: int) -> AugmentPrompt:
    """Ask for a movie's director, country and language as a JSON object; the prefill opens it."""
    keys = ", ".join(f'"{f}": ...' for f in ATTRIBUTE_FIELDS)
    text = ("Provide the inquired information of the given movie.\n" + item_line(item_text, item, int(item)) +
            f"\nThe inquired information is: director, country, language. Output a JSON object {{{keys}}} "
            "and nothing else.")
    return AugmentPrompt(text=text, prefill='{"director": "')


def profile_text(profile: dict[str, str]) -> str:
    """The text of an augmented user profile that gets embedded (``field: value`` pairs)."""
    return "; ".join(f"{f.replace('_', ' ')}: {profile[f]}" for f in PROFILE_FIELDS if f in profile)
