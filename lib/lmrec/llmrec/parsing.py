"""Strict parsers of LLMRec's three augmentation answers (WSDM'24, arXiv 2311.00423, Sec. 3.1).

Each parser takes the model's raw text and returns a clean value or raises :class:`AugmentParseError`
saying what was wrong, so the caller can retry and, after the last try, record a failure. Nothing is
guessed: a pair must name two different shown candidates, a profile must carry every field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

PROFILE_FIELDS = ("age", "gender", "liked_genres", "disliked_genres", "liked_directors", "country", "language")
ATTRIBUTE_FIELDS = ("director", "country", "language")
_EMPTY = {"", "none", "null", "n/a", "na", "unknown", "-", "?"}
_PAIR = re.compile(r"^\s*\[?\s*(-?\d+)\s*\]?\s*(?:::|,|;|\s)\s*\[?\s*(-?\d+)\s*\]?\s*\.?\s*$")
_ALIASES = {  # answer keys seen in the paper's format ("liked genre") mapped to the field names
    "liked_genre": "liked_genres", "disliked_genre": "disliked_genres", "liked_director": "liked_directors",
    "favorite_genres": "liked_genres", "favourite_genres": "liked_genres",
}


class AugmentParseError(ValueError):
    """An LLM answer that does not have the required form (the message says which part and why)."""


def parse_pair(text: str, labels: Sequence[int | str]) -> tuple[int, int]:
    """Parse an implicit-feedback answer ``"<liked>::<disliked>"`` against the candidate ``labels`` shown.

    Only the first non-empty line is read; it must hold exactly two integers (separated by ``::``, a
    comma, a semicolon or spaces; optional brackets), both among ``labels`` and different from each other.
    Returns the two *positions* in ``labels`` (liked, disliked).
    """
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    if not lines:
        raise AugmentParseError("implicit-feedback answer is empty; expected '<liked index>::<disliked index>'")
    match = _PAIR.match(lines[0])
    if not match:
        raise AugmentParseError(f"implicit-feedback answer {lines[0][:80]!r} is not two indices like '12::7'")
    shown = [str(lb) for lb in labels]
    picked = []
    for value in match.groups():
        if value not in shown:
            raise AugmentParseError(f"index {value} is not among the candidates {shown}")
        picked.append(shown.index(value))
    if picked[0] == picked[1]:
        raise AugmentParseError(f"liked and disliked index are the same ({match.group(1)}); they must differ")
    return picked[0], picked[1]


def _json_object(text: str, what: str) -> dict:
    """The first complete ``{...}`` JSON object in ``text`` (code fences and chatter around it ignored)."""
    text = str(text)
    start = text.find("{")
    if start < 0:
        raise AugmentParseError(f"{what}: no JSON object in the answer {text[:80]!r}")
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as err:
        raise AugmentParseError(f"{what}: invalid JSON ({err.msg} at char {err.pos}) in {text[start:start + 80]!r}") from err
    if not isinstance(obj, dict):
        raise AugmentParseError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _norm_key(key: str) -> str:
    k = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
    return _ALIASES.get(k, k)


def _as_text(value, field: str, what: str) -> str:
    """A field value as one string: lists joined with ', '; empty or placeholder values rejected."""
    if isinstance(value, list):
        parts = [_as_text(v, field, what) for v in value if str(v).strip().lower() not in _EMPTY]
        if not parts:
            raise AugmentParseError(f"{what}: field {field!r} is an empty list")
        return ", ".join(parts)
    if isinstance(value, dict) or value is None:
        raise AugmentParseError(f"{what}: field {field!r} must be a string, number or list, got {value!r}")
    out = str(value).strip()
    if out.lower() in _EMPTY:
        raise AugmentParseError(f"{what}: field {field!r} is empty or a placeholder ({out!r})")
    return out


def _fields(obj: dict, fields: Sequence[str], what: str) -> dict[str, str]:
    normed = {_norm_key(k): v for k, v in obj.items()}
    missing = [f for f in fields if f not in normed]
    if missing:
        raise AugmentParseError(f"{what}: missing field(s) {missing}; got {sorted(normed)}")
    return {f: _as_text(normed[f], f, what) for f in fields}


def parse_profile(text: str) -> dict[str, str]:
    """Parse a user profile: a JSON object with every field of :data:`PROFILE_FIELDS` (keys are matched
    case- and space-insensitively, so the paper's ``"liked genre"`` works). ``age`` must contain a number
    between 1 and 120. Returns the fields as strings (lists joined with ``', '``)."""
    out = _fields(_json_object(text, "user profile"), PROFILE_FIELDS, "user profile")
    age = re.search(r"\d+", out["age"])
    if not age or not 1 <= int(age.group()) <= 120:
        raise AugmentParseError(f"user profile: field 'age' must hold a number 1..120, got {out['age']!r}")
    return out


def parse_attributes(text: str, fmt: str = "json") -> dict[str, str]:
    """Parse item attributes (director, country, language).

    ``fmt="json"``: a JSON object with those three fields. ``fmt="colons"``: the released code's
    ``director::country::language`` line (first non-empty line, exactly three non-empty parts).
    """
    if fmt == "json":
        return _fields(_json_object(text, "item attributes"), ATTRIBUTE_FIELDS, "item attributes")
    if fmt == "colons":
        lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
        parts = lines[0].split("::") if lines else []
        if len(parts) != 3:
            raise AugmentParseError(f"item attributes: expected 'director::country::language', got {str(text)[:80]!r}")
        return {f: _as_text(p, f, "item attributes") for f, p in zip(ATTRIBUTE_FIELDS, parts)}
    raise ValueError(f"fmt={fmt!r}; use 'json' or 'colons'")
