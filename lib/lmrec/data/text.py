"""Item-text cells: the one rule for whether a cell of ``InteractionDataset.item_text`` holds text."""

from __future__ import annotations

import pandas as pd

NO_TEXT = ("", "nan")  # what a cell reads as, after stripping, when it holds no text


def text_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every cell as stripped text, ``""`` where it holds none (missing: ``None``, NaN, ``pd.NA``;
    blank; or the string ``nan`` that a NaN becomes once written as text)."""
    text = frame.astype(object).where(frame.notna(), "").astype(str).apply(lambda col: col.str.strip())
    return text.mask(text.isin(NO_TEXT), "")
