"""Result tables: Markdown formatting and the README's compact results block."""

import numpy as np
import pandas as pd

from lmrec.run.report import readme_block, to_markdown, update_readme, write_tables


def test_markdown_prints_integers_without_decimals_and_missing_as_empty():
    frame = pd.DataFrame({"n_users": [942.0, 943.0], "recall@20": [0.29091, np.nan]}, index=["a", "b"])
    frame.index.name = "t"
    lines = to_markdown(frame, "cap").splitlines()
    assert [c.strip() for c in lines[2].split("|")[2:4]] == ["942", "0.2909"]
    assert lines[3].split("|")[3].strip() == ""
    assert lines[-1] == "*cap*"


def test_readme_block_keeps_the_papers_columns_and_the_protocol(tmp_path):
    frame = pd.DataFrame({"recall@20": [0.3, 0.2], "ndcg@20": [0.2, 0.1], "hit@20": [np.nan, 0.9],
                          "valid_recall@20": [0.31, 0.21]}, index=["LightGCN", "MostPop"])
    caption = "LightGCN on ml100k; best epoch 3 of 9; test: 920 users; full ranking / MostPop; test: 920 users; full ranking"
    write_tables({"rlmrec": (frame, caption)}, tmp_path)
    block = readme_block(tmp_path)
    header = block.splitlines()[2]
    assert "recall@20" in header and "ndcg@20" in header and "hit@20" not in header and "valid" not in header
    assert block.strip().endswith("*test: 920 users; full ranking*")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nold\n<!-- results:end -->\ntail\n")
    assert update_readme(readme, tmp_path) and "old" not in readme.read_text() and readme.read_text().endswith("tail\n")
    assert not update_readme(readme, tmp_path)  # idempotent


def test_rows_follow_notebook_order_and_the_latest_run_wins():
    from lmrec.run.report import build_tables

    runs = pd.DataFrame.from_records([
        {"notebook": "11_lightgcn", "table": "t", "row": "LightGCN", "caption": "", "folder": "a",
         "finished_at": "2026-11-25T22:00", "seconds": 1, "metrics": {"recall@20": 0.30}, "extra": {}},
        {"notebook": "05_most_popular", "table": "t", "row": "MostPop", "caption": "", "folder": "b",
         "finished_at": "2026-11-25T21:00", "seconds": 1, "metrics": {"recall@20": 0.17}, "extra": {}},
        {"notebook": "10_gccf", "table": "t", "row": "GCCF", "caption": "", "folder": "c",
         "finished_at": "2026-11-25T23:00", "seconds": 1, "metrics": {"recall@20": 0.29}, "extra": {}},
        {"notebook": "11_lightgcn", "table": "t", "row": "LightGCN", "caption": "", "folder": "d",
         "finished_at": "2026-11-25T20:00", "seconds": 1, "metrics": {"recall@20": 0.10}, "extra": {}},
        {"notebook": "11_lightgcn", "table": "t", "row": "LightGCN+Con", "caption": "", "folder": "e",
         "finished_at": "2026-11-25T20:30", "seconds": 1, "metrics": {"recall@20": 0.31}, "extra": {}},
    ])
    frame, _ = build_tables(runs)["t"]
    assert list(frame.index) == ["MostPop", "GCCF", "LightGCN", "LightGCN+Con"]  # LightGCN first ran at 20:00
    assert frame.loc["LightGCN", "recall@20"] == 0.30
