"""Prompt builders: item lines, training-only history, candidate labels."""

import numpy as np
import pandas as pd
import pytest

from lmrec.data import InteractionDataset, make_interactions
from lmrec.llmrec.parsing import parse_pair
from lmrec.llmrec.prompts import (
    history_items,
    implicit_feedback_prompt,
    item_attribute_prompt,
    item_line,
    profile_text,
    user_profile_prompt,
)

ITEMS = pd.DataFrame({"title": ["Toy Story", "Heat", "Fargo", "Alien"], "year": ["1995", "1995", "1996", ""],
                      "genres": ["Animation Comedy", "Action Crime", "Crime Drama", "Horror Sci-Fi"]})


def test_item_line_formats_title_year_and_genres():
    assert item_line(ITEMS, 0, 7) == "[7] Toy Story (1995), Animation|Comedy"
    assert item_line(ITEMS, 3) == "Alien, Horror|Sci-Fi"


def test_history_uses_training_items_only_most_recent_first_capped():
    inter = make_interactions(np.array([0, 0, 0, 0]), np.array([0, 1, 2, 3]),
                              np.array(["train", "train", "valid", "test"], dtype=object),
                              timestamp=np.array([1.0, 2.0, 3.0, 4.0]))
    ds = InteractionDataset("toy", inter, 1, 4, np.array(["u"]), np.array(list("abcd")), item_text=ITEMS)
    train_seq = ds.sequences("train")[0]
    assert history_items(train_seq, 0).tolist() == [0, 1]
    assert history_items(train_seq, 1).tolist() == [1]
    prompt = user_profile_prompt(ds.item_text, history_items(train_seq, 0))
    assert "Toy Story" in prompt.text and "Heat" in prompt.text
    assert "Fargo" not in prompt.text and "Alien" not in prompt.text  # valid/test items never shown
    assert prompt.prefill.startswith("{")


@pytest.mark.parametrize("mode, labels", [("position", ("0", "1")), ("item_id", ("2", "3"))])
def test_implicit_feedback_prompt_labels_candidates_and_parses_back(mode, labels):
    p = implicit_feedback_prompt(ITEMS, [0, 1], [2, 3], label_mode=mode)
    assert p.labels == labels and p.candidates == (2, 3)
    assert f"[{labels[0]}] Fargo (1996), Crime|Drama" in p.text
    assert "Toy Story (1995)" in p.text.split("Candidates:")[0]
    liked, disliked = parse_pair(f"{labels[1]}::{labels[0]}", p.labels)
    assert (p.candidates[liked], p.candidates[disliked]) == (3, 2)
    with pytest.raises(ValueError, match="label_mode"):
        implicit_feedback_prompt(ITEMS, [0], [1], label_mode="title")


def test_attribute_prompt_and_profile_text():
    p = item_attribute_prompt(ITEMS, 2)
    assert "Fargo (1996)" in p.text and "director" in p.text and p.prefill == '{"director": "'
    assert profile_text({"age": "30", "liked_genres": "Drama"}) == "age: 30; liked genres: Drama"
