"""bench/scientific.py collect: paired differences against SASRec per seed (mean, 95 % t-interval, whether it excludes
0), Recformer's rows merged from another script's record, rows of an earlier record kept when not re-measured."""

from __future__ import annotations

import json

import pytest

from tests.bench.scripts import load_bench_script

sci = load_bench_script("scientific")


def _seed(ndcg: float, recall: float) -> dict:
    return {"ndcg@10": ndcg, "recall@10": recall}


ROWS = {"SASRec": {"seeds": {"1": {"unmasked": _seed(0.10, 0.14)}, "2": {"unmasked": _seed(0.11, 0.15)},
                             "3": {"unmasked": _seed(0.12, 0.13)}}},
        "LEARN (finetuned)": {"seeds": {"1": {"unmasked": _seed(0.12, 0.15)}, "2": {"unmasked": _seed(0.13, 0.15)},
                                        "3": {"unmasked": _seed(0.15, 0.14)}, "9": {"unmasked": _seed(0.0, 0.0)}}}}


def test_paired_difference_is_per_common_seed_with_a_t_interval():
    d = sci.paired_detail(ROWS, "LEARN (finetuned)", metric="ndcg@10", proto="unmasked")
    assert d["n"] == 3 and list(d["per_seed"]) == ["1", "2", "3"]  # seed 9 has no SASRec run: not paired
    assert d["per_seed"] == pytest.approx({"1": 0.02, "2": 0.02, "3": 0.03})
    # mean 0.02333, sd 0.005774, t(0.975, 2) = 4.3027: half-width 4.3027 * 0.005774 / sqrt(3) = 0.014343
    assert d["mean"] == pytest.approx(0.0233333, abs=1e-6) and d["ci95"] == pytest.approx(0.014343, abs=1e-5)
    assert d["excludes_zero"]
    r = sci.paired_detail(ROWS, "LEARN (finetuned)", metric="recall@10", proto="unmasked")
    assert r["per_seed"] == pytest.approx({"1": 0.01, "2": 0.0, "3": 0.01}) and not r["excludes_zero"]
    assert sci.paired_detail(ROWS, "LEARN (finetuned)", proto="masked") is None


def test_recformer_rows_and_earlier_rows_join_the_table(tmp_path):
    out = tmp_path / "scientific.json"
    earlier = {"detail": {"SASRec": {**ROWS["SASRec"], "status": ["converged"] * 3, "cpu_seconds": 10.0, "folders": [],
                                     "unmasked": {"ndcg@10": [0.11, 0.02], "recall@10": [0.14, 0.02]},
                                     "capped": False, "cpu_hours": 0.003}}}
    out.write_text(json.dumps(earlier))
    (tmp_path / "recformer_scientific_full.json").write_text(json.dumps({"rows": [
        {"row": "Recformer (zero-shot)", "metrics": {"ndcg@10": 0.01, "recall@10": 0.02},
         "metrics_masked": {"ndcg@10": 0.011, "recall@10": 0.019}, "seeds": 1, "status": "done", "cpu_hours": 0.5,
         "users_evaluated": 1000}]}))
    record = sci.main(["collect", "--outputs", str(tmp_path / "none"), "--out", str(out)])
    assert set(record["rows"]) == {"SASRec", "Recformer (zero-shot)"}
    rec = record["rows"]["Recformer (zero-shot)"]
    assert rec["metrics"] == {"ndcg@10": 0.01, "recall@10": 0.02} and rec["metrics_masked"]["recall@10"] == 0.019
    assert record["detail"]["SASRec"]["kept_from"] == str(out)
    assert record["rows"]["SASRec"]["ratio_unmasked"]["ndcg@10"] == pytest.approx(0.11 / 0.0797)
    (tmp_path / "recformer_scientific_full.json").write_text(json.dumps({"rows": [{"row": "Recformer (zero-shot)"}]}))
    with pytest.raises(SystemExit, match=r"rows\[0\] lacks \['metrics', 'metrics_masked'\]"):
        sci.main(["collect", "--outputs", str(tmp_path / "none"), "--out", str(out)])


def test_the_tables_replace_only_the_marked_part_of_the_markdown(tmp_path):
    md = tmp_path / "scientific.md"
    md.write_text(f"prose before\n{sci.BEGIN}\nold table\n{sci.END}\nprose after\n")
    assert sci.write_tables(md, "new table")
    assert md.read_text() == f"prose before\n{sci.BEGIN}\nnew table\n{sci.END}\nprose after\n"
    assert not sci.write_tables(tmp_path / "absent.md", "t")


def test_a_seed_of_an_earlier_record_joins_the_seeds_measured_now(tmp_path):
    """Seed 2023 ran in an earlier session (only its record is left), 2024 runs now: the row, its mean and the
    paired difference cover both seeds; a seed measured now is not replaced by the earlier record's."""
    earlier_seeds = {"2023": {"unmasked": _seed(0.09, 0.15)}, "2024": {"unmasked": _seed(0.50, 0.50)}}
    previous = tmp_path / "scientific.json"
    previous.write_text(json.dumps({"detail": {"LEARN (finetuned)": {
        "seeds": earlier_seeds, "status": ["converged"], "cpu_seconds": 100.0, "folders": []}}}))
    rows = {"LEARN (finetuned)": {"seeds": {"2024": {"unmasked": _seed(0.11, 0.13), "status": "converged",
                                                     "cpu_seconds": 40.0}},
                                  "status": ["converged"], "cpu_seconds": 40.0, "folders": ["f"]},
            "SASRec": {"seeds": {"2023": {"unmasked": _seed(0.10, 0.14)}, "2024": {"unmasked": _seed(0.10, 0.14)}},
                       "status": ["converged"] * 2, "cpu_seconds": 1.0, "folders": []}}
    merged = sci.keep_previous(sci.summarize(rows), previous)
    learn = merged["LEARN (finetuned)"]
    assert sorted(learn["seeds"]) == ["2023", "2024"] and learn["kept_seeds"] == ["2023"]
    assert learn["seeds"]["2024"]["unmasked"] == _seed(0.11, 0.13)  # measured now wins
    assert learn["unmasked"]["ndcg@10"][0] == pytest.approx(0.10)  # mean over both seeds
    assert learn["cpu_seconds"] == pytest.approx(40.0 + 50.0)  # an equal share of the earlier row's seconds
    d = sci.paired_detail(merged, "LEARN (finetuned)", metric="ndcg@10")
    assert d["per_seed"] == pytest.approx({"2023": -0.01, "2024": 0.01})
    assert "LEARN (finetuned) (seed 2023)" in sci.markdown(merged, {})


def test_paired_table_words_and_a_single_common_seed():
    """One common seed: half-width 0 (this record holds no NaN), not 'excludes 0'; the table says so."""
    rows = {**ROWS, "One": {"seeds": {"2": {"unmasked": _seed(0.15, 0.15)}}}}
    one = sci.paired_detail(rows, "One", metric="ndcg@10")
    assert one == {"per_seed": {"2": pytest.approx(0.04)}, "mean": pytest.approx(0.04), "ci95": 0.0, "n": 1,
                   "excludes_zero": False}
    lower = sci.paired_detail({"SASRec": ROWS["LEARN (finetuned)"], "L": ROWS["SASRec"]}, "L", metric="ndcg@10")
    text = sci.paired_markdown({"One": {"unmasked": {"ndcg@10": one}},
                                "LEARN": {"unmasked": {"ndcg@10": sci.paired_detail(ROWS, "LEARN (finetuned)"),
                                                       "recall@10": sci.paired_detail(ROWS, "LEARN (finetuned)",
                                                                                      metric="recall@10")}},
                                "L": {"unmasked": {"ndcg@10": lower}}})
    assert "| One | history not masked | ndcg@10 | 2: +0.0400 | +0.0400 ± 0.0000 | - (one seed) |" in text
    assert "| +0.0233 ± 0.0143 | yes, above |" in text and "| +0.0067 ± 0.0143 | no |" in text
    assert "| -0.0233 ± 0.0143 | yes, below |" in text
