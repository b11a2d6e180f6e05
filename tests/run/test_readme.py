"""The README's generated blocks: a table copied from a benchmark record, block replacement, the record rebuild."""

import pytest

from lmrec.run import readme
from lmrec.run.readme import bench_block, first_table, replace_block, update_block, write_reproduction_record

RECORD = """# A record

Some prose | with a pipe.

## Rows

| row | NDCG@10 |
|---|---|
| SASRec | 0.1004 |
| LEARN | 0.0900 |

## Later

| other | x |
|---|---|
| y | 1 |
"""


def test_first_table_under_a_heading_takes_only_that_table():
    assert first_table(RECORD, "## Rows") == "| row | NDCG@10 |\n|---|---|\n| SASRec | 0.1004 |\n| LEARN | 0.0900 |"
    assert first_table(RECORD, "## Later").endswith("| y | 1 |")
    assert first_table(RECORD).startswith("| row |")  # no heading: the file's first table


def test_a_missing_heading_or_table_names_the_record():
    with pytest.raises(ValueError, match="rec.md: no heading '## Gone'"):
        first_table(RECORD, "## Gone", where="rec.md")
    with pytest.raises(ValueError, match="rec.md: no Markdown table"):
        first_table("# nothing\n\ntext\n", where="rec.md")


def test_replace_block_keeps_what_surrounds_it_and_refuses_missing_markers(tmp_path):
    text = "# R\n<!-- b:start -->\nold\n<!-- b:end -->\ntail\n"
    new = replace_block(text, "b", "new body\n")
    assert new == "# R\n<!-- b:start -->\nnew body\n<!-- b:end -->\ntail\n"
    assert replace_block(new, "b", "new body") == new
    with pytest.raises(ValueError, match="no <!-- c:start --> ... <!-- c:end --> block"):
        replace_block(text, "c", "x")
    path = tmp_path / "README.md"
    path.write_text(text)
    assert update_block(path, "b", "x") and not update_block(path, "b", "x")


def test_bench_block_copies_each_record_table_under_its_title(tmp_path, monkeypatch):
    (tmp_path / "a.md").write_text(RECORD)
    (tmp_path / "b.md").write_text("# gen\n\n| p | v |\n|---|---|\n| RLMRec | 0.1 |\n")
    monkeypatch.setattr(readme, "BENCH_TABLES", (("A table", "a.md", "## Rows"), ("B table", "b.md", "")))
    block = bench_block(tmp_path)
    assert block.split("\n\n")[0] == "### A table" and "| LEARN | 0.0900 |" in block and "| y | 1 |" not in block
    assert block.split("### B table\n\n")[1] == "| p | v |\n|---|---|\n| RLMRec | 0.1 |"
    (tmp_path / "b.md").unlink()
    with pytest.raises(ValueError, match="b.md: missing"):
        bench_block(tmp_path)


def test_reproduction_record_falls_back_to_the_benchmark_records(tmp_path):
    """With no run folder, every reference with a record gets the record's number (the shipped records)."""
    path = write_reproduction_record(tmp_path / "no-runs", tmp_path)
    text = path.read_text()
    assert "no-runs` where one matches" in text
    sasrec = [line for line in text.splitlines() if "| SASRec | recall@10 |" in line]
    assert sasrec and all("no run yet" not in line for line in sasrec)
    assert "| RLMRec | rlmrec:rlmrec_yelp | AutoCF | recall@20 | 0.1306 | 0.1285 | 0.98 |" in text
