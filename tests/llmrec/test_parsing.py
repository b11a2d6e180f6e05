"""Strict parsing of LLMRec's three augmentation answers."""

import pytest

from lmrec.llmrec.parsing import AugmentParseError, parse_attributes, parse_pair, parse_profile

LABELS = ["3", "17", "42", "8"]


@pytest.mark.parametrize("text, expected", [
    ("42::3", (2, 0)), (" [17] :: [8] ", (1, 3)), ("8, 42", (3, 2)), ("3 17\nbecause ...", (0, 1)), ("42::3.", (2, 0)),
])
def test_pair_accepts_two_candidate_indices_and_returns_positions(text, expected):
    assert parse_pair(text, LABELS) == expected


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"), ("The 42::3.", "not two indices"), ("42::3::8", "not two indices"), ("42::5", "not among"),
    ("-3::42", "not among"), ("17::17", "must differ"), ("I like 42", "not two indices"),
])
def test_pair_rejects_malformed_out_of_range_or_repeated_indices(text, fragment):
    with pytest.raises(AugmentParseError, match=fragment):
        parse_pair(text, LABELS)


def test_pair_with_position_labels_checks_range():
    labels = [str(i) for i in range(1, 11)]
    assert parse_pair("10::1", labels) == (9, 0)
    with pytest.raises(AugmentParseError, match="not among"):
        parse_pair("11::1", labels)
    with pytest.raises(AugmentParseError, match="not among"):
        parse_pair("0::1", labels)


PROFILE = ('{"age": 34, "gender": "female", "liked genre": ["Comedy", "Drama"], "disliked_genres": "Horror", '
           '"Liked Directors": ["Nora Ephron"], "country": "USA", "language": "English"}')


def test_profile_parses_all_fields_normalising_keys_and_lists():
    out = parse_profile("Sure! " + PROFILE + " hope this helps")
    assert out == {"age": "34", "gender": "female", "liked_genres": "Comedy, Drama", "disliked_genres": "Horror",
                   "liked_directors": "Nora Ephron", "country": "USA", "language": "English"}


@pytest.mark.parametrize("text, fragment", [
    ("no json here", "no JSON object"),
    ('{"age": 30, "gender": "male"}', "missing field"),
    (PROFILE.replace('"USA"', '"unknown"'), "placeholder"),
    (PROFILE.replace("34", '"old"'), "age"),
    (PROFILE.replace("34", "300"), "age"),
    (PROFILE[:-10], "invalid JSON"),
    (PROFILE.replace('["Nora Ephron"]', "[]"), "empty list"),
    ("[1, 2]", "no JSON object"),
])
def test_profile_rejects_incomplete_or_placeholder_answers(text, fragment):
    with pytest.raises(AugmentParseError, match=fragment):
        parse_profile(text)


def test_attributes_json_and_colon_formats():
    assert parse_attributes('{"director": "Ron Underwood", "country": "USA", "language": "English"}') == {
        "director": "Ron Underwood", "country": "USA", "language": "English"}
    assert parse_attributes("Ron Underwood::USA::English\n", fmt="colons") == {
        "director": "Ron Underwood", "country": "USA", "language": "English"}


@pytest.mark.parametrize("text, fmt, fragment", [
    ('{"director": "X", "country": "USA"}', "json", "missing field"),
    ('{"director": "", "country": "USA", "language": "English"}', "json", "empty"),
    ("Ron Underwood::USA", "colons", "expected 'director::country::language'"),
    ("Ron Underwood::::English", "colons", "empty"),
])
def test_attributes_reject_missing_or_empty_fields(text, fmt, fragment):
    with pytest.raises(AugmentParseError, match=fragment):
        parse_attributes(text, fmt=fmt)
