"""The reproduction table: references beside runs of the same row and metric on the same split, never another."""

from __future__ import annotations

import pandas as pd
import pytest

from lmrec.run.reproduction import (
    Reference,
    dataset_name,
    load_references,
    reproduction_markdown,
    reproduction_table,
)

REF = Reference("RLMRec", "rlmrec", ("rlmrec:rlmrec_yelp", "rlmrec:yelp"), "SimGCL", "recall@20", 0.125, "released-code", "somewhere")


def _runs(*rows):
    cols = ["table", "row", "params", "metrics", "status", "folder"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


def test_runs_on_the_reference_split_are_averaged_and_others_ignored():
    runs = _runs(
        ("rlmrec", "SimGCL", {"DATASET": "rlmrec:../shared/data/rlmrec_yelp", "SEED": 1}, {"recall@20": 0.12}, "converged", "a"),
        ("rlmrec", "SimGCL", {"DATASET": "rlmrec:outputs/data/rlmrec/yelp/", "SEED": 2}, {"recall@20": 0.13}, "converged", "b"),
        ("rlmrec", "SimGCL", {"DATASET": "cllm4rec:data/yelp"}, {"recall@20": 0.5}, "converged", "e"),  # another format
        ("rlmrec", "SimGCL", {"DATASET": "ml100k"}, {"recall@20": 0.30}, "converged", "c"),       # another split
        ("rlmrec", "SimGCL+Con", {"DATASET": "rlmrec:x/rlmrec_yelp"}, {"recall@20": 0.2}, "converged", "d"),  # another row
    )
    line = reproduction_table(runs, [REF]).iloc[0]
    assert line["lmrec"] == pytest.approx(0.125) and line["seeds"] == 2 and line["ratio"] == pytest.approx(1.0)
    assert line["folders"] == "a b" and not line["capped"]
    assert "0.1250 (2 seeds)" in reproduction_markdown(reproduction_table(runs, [REF]))


def test_a_missing_run_is_said_and_a_capped_one_labelled():
    empty = reproduction_table(_runs(), [REF])
    assert pd.isna(empty.iloc[0]["lmrec"]) and "no run yet" in reproduction_markdown(empty)
    for status in ("capped", "epoch_limit"):  # a time budget or the EPOCHS ceiling: neither is converged
        capped = _runs(("rlmrec", "SimGCL", {"DATASET": "rlmrec:y/rlmrec_yelp"}, {"recall@20": 0.1}, status, "a"))
        assert "(capped: not converged)" in reproduction_markdown(reproduction_table(capped, [REF])), status
    for status in ("converged", "completed"):
        done = _runs(("rlmrec", "SimGCL", {"DATASET": "rlmrec:y/rlmrec_yelp"}, {"recall@20": 0.1}, status, "a"))
        assert "capped" not in reproduction_markdown(reproduction_table(done, [REF])), status


def test_dataset_names_and_the_shipped_references_are_valid(tmp_path):
    assert dataset_name("rlmrec:../shared/data/rlmrec_yelp") == "rlmrec:rlmrec_yelp" and dataset_name("ml100k") == "ml100k"
    assert {r.kind for r in load_references()} <= {"published", "released-code"}
    bad = tmp_path / "refs.yaml"
    bad.write_text("- {paper: X, table: t, dataset: d, row: r, metric: m, value: 0.1, kind: guessed, source: s}\n")
    with pytest.raises(ValueError, match="kind 'guessed'"):
        load_references(bad)
    bad.write_text("- {paper: X, table: t, dataset: d, row: r, metric: m, kind: published, source: s}\n")
    with pytest.raises(ValueError, match="lacks \\['value'\\]"):
        load_references(bad)


def test_where_picks_the_protocol_result_fills_a_gap_and_needs_is_said(tmp_path):
    import json
    from dataclasses import replace

    ref = replace(REF, where=(("MASK_HISTORY", False),))
    runs = _runs(
        ("rlmrec", "SimGCL", {"DATASET": "rlmrec:y/rlmrec_yelp", "MASK_HISTORY": True}, {"recall@20": 0.1}, "converged", "m"),
        ("rlmrec", "SimGCL", {"DATASET": "rlmrec:y/rlmrec_yelp", "MASK_HISTORY": False}, {"recall@20": 0.2}, "converged", "u"),
    )
    line = reproduction_table(runs, [ref]).iloc[0]
    assert line["lmrec"] == pytest.approx(0.2) and line["folders"] == "u"
    (tmp_path / "r.json").write_text(json.dumps({"rows": {"SimGCL": {"metrics": {"recall@20": 0.1}, "seeds": 3,
                                                                        "status": "capped"}}}))
    filled = reproduction_table(_runs(), [replace(ref, result="r.json")], root=tmp_path).iloc[0]
    assert filled["lmrec"] == pytest.approx(0.1) and filled["seeds"] == 3 and filled["capped"]
    assert filled["folders"] == "r.json"
    assert reproduction_table(runs.iloc[:1], [replace(ref, result="r.json")], root=tmp_path).iloc[0]["folders"] == "r.json"
    needs = reproduction_table(_runs(), [replace(ref, needs="its data.zip")])
    assert "needs its data.zip" in reproduction_markdown(needs)
    (tmp_path / "bad.json").write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match="bad.json: not a benchmark record"):
        reproduction_table(_runs(), [replace(ref, result="bad.json")], root=tmp_path)


def test_the_shipped_references_name_their_optional_fields_correctly(tmp_path):
    refs = load_references()
    assert {r.row for r in refs if r.needs} >= {"LLMRec", "UniSRec", "LightGCN+Con", "AutoCF+Gen"}
    assert all(r.where == (("MASK_HISTORY", False),) for r in refs if r.row in ("SASRec", "Recformer (finetuned)"))
    bad = tmp_path / "refs.yaml"
    bad.write_text("- {paper: X, table: t, dataset: d, row: r, metric: m, value: 0.1, kind: published, source: s, "
                   "wher: {A: 1}}\n")
    with pytest.raises(ValueError, match="unknown fields \\['wher'\\]"):
        load_references(bad)
