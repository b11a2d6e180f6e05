"""One rule for an empty item-text cell (``lmrec.data.text.text_cells``), shared by every reader of item text:
``InteractionDataset.item_texts`` (profile-free embeddings, prompts), the text subset of the sequential
recommenders and Recformer's item attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmrec.data import InteractionDataset, make_interactions
from lmrec.data.text import text_cells

# one row per way a cell can hold no text, then rows that do hold some
MESSY = pd.DataFrame({
    "title": [None, np.nan, pd.NA, "nan", " nan ", "  ", "", " Heat ", "nano", None],
    "year": [np.nan, None, np.nan, np.nan, np.nan, np.nan, np.nan, 1995.0, np.nan, 1999.0],
}, dtype=object)
HAS_TEXT = [False] * 7 + [True, True, True]


def messy_dataset() -> InteractionDataset:
    n = len(MESSY)
    inter = make_interactions(np.zeros(n, dtype=np.int64), np.arange(n), "train")
    return InteractionDataset(name="messy", interactions=inter, n_users=1, n_items=n,
                              user_ids=np.array(["u"]), item_ids=np.array([str(i) for i in range(n)]),
                              item_text=MESSY.copy())


def test_cells_without_text_read_as_empty_and_text_is_stripped():
    cells = text_cells(MESSY)
    assert cells["title"].tolist() == [""] * 7 + ["Heat", "nano", ""]
    assert cells["year"].tolist() == [""] * 7 + ["1995.0", "", "1999.0"]
    assert ((cells != "").any(axis=1)).tolist() == HAS_TEXT


def test_every_reader_of_item_text_agrees_on_which_items_have_text():
    from lmrec.recformer.items import item_attributes
    from lmrec.seqrec.subset import items_with_text

    ds = messy_dataset()
    assert items_with_text(ds).tolist() == HAS_TEXT
    assert [len(a) > 0 for a in item_attributes(ds)] == HAS_TEXT
    texts = ds.item_texts()
    assert [t != "" for t in texts] == HAS_TEXT
    assert texts[7] == "title: Heat, year: 1995.0" and texts[9] == "year: 1999.0"
    assert item_attributes(ds)[7] == [("title", "Heat"), ("year", "1995.0")]
