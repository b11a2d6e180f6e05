"""Result tables: one table per dataset and user set, seeds with intervals, paired markers, provenance."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.run.report import (
    base_row,
    build_tables,
    cells,
    collect_runs,
    paired_mark,
    provenance,
    readme_block,
    table_markdown,
    to_markdown,
    update_readme,
    validation_curves,
    write_tables,
)

ML = {"DATASET": "ml100k", "SPLIT": "rlmrec", "MIN_RATING": 4}
CAP = "test: {n} users; full ranking over all items; train items masked at test; K in [20]"


def put(root: Path, notebook: str, folder: str, row: str, metrics: dict, params: dict | None = None, *,
        table: str = "rlmrec", users: int = 920, seed: int = 2023, at: str = "2026-12-01T10:00:00",
        caption: str | None = None, history: list | None = None, commit: str = "abc1234def5678") -> Path:
    """A finished run folder as the runner leaves it (metrics.json + env.json)."""
    run = root / notebook / folder
    run.mkdir(parents=True)
    params = {**ML, **(params or {}), "SEED": seed}
    record = {"notebook": notebook, "table": table, "row": row, "metrics": metrics, "params": params, "seed": seed,
              "caption": caption if caption is not None else f"{row} on x; best epoch 3; " + CAP.format(n=users),
              "finished_at": at, "git_commit": commit, "timings": {"total": 12.5},
              "extra": {"history": history} if history else {}}
    (run / "metrics.json").write_text(json.dumps(record))
    (run / "env.json").write_text(json.dumps({"cpu": "AMD EPYC 7B13", "cpu_count": 2, "device": "cpu"}))
    return run


def one(tables, table, dataset_part="", users=None):
    hits = [t for t in tables if t.table == table and dataset_part in t.dataset and (users is None or t.users == users)]
    assert len(hits) == 1, [t.title for t in tables]
    return hits[0]


def test_two_datasets_never_share_a_table_and_a_later_run_elsewhere_replaces_nothing(tmp_path):
    put(tmp_path, "05_most_popular", "a", "MostPop", {"recall@20": 0.17}, at="2026-12-01T10:00:00")
    put(tmp_path, "11_lightgcn", "b", "LightGCN", {"recall@20": 0.30}, at="2026-12-01T10:05:00")
    # MostPop run later on another dataset (a CLLM4Rec folder, its own split, 500 users) into the same table
    put(tmp_path, "05_most_popular", "c", "MostPop", {"recall@20": 0.55},
        {"DATASET": "cllm4rec:../shared/data/beauty", "SPLIT": "given", "MIN_RATING": 0}, users=500,
        at="2026-12-01T11:00:00")
    tables = build_tables(collect_runs(tmp_path))
    ml = one(tables, "rlmrec", "ml100k")
    other = one(tables, "rlmrec", "beauty")
    assert ml.mean.loc["MostPop", "recall@20"] == 0.17 and list(ml.mean.index) == ["MostPop", "LightGCN"]
    assert other.mean.loc["MostPop", "recall@20"] == 0.55 and list(other.mean.index) == ["MostPop"]
    assert "given split" in other.title and "500 test users" in other.title and "920 test users" in ml.title
    # the CSV keeps both, keyed by dataset
    write_tables(tables, tmp_path / "tables")
    csv = pd.read_csv(tmp_path / "tables" / "rlmrec.csv")
    assert sorted(zip(csv["dataset"].str[:6], csv["row"], csv["recall@20"])) == [
        ("cllm4r", "MostPop", 0.55), ("ml100k", "LightGCN", 0.30), ("ml100k", "MostPop", 0.17)]


def test_rows_evaluated_on_other_users_are_not_placed_side_by_side(tmp_path):
    put(tmp_path, "06_sasrec", "a", "SASRec", {"ndcg@10": 0.10}, {"SPLIT": "loo_time", "MIN_RATING": 0},
        table="sequential", users=943)
    put(tmp_path, "31_recformer_finetune", "b", "Recformer (finetuned)", {"ndcg@10": 0.30},
        {"SPLIT": "loo_time", "MIN_RATING": 0}, table="sequential", users=40)
    tables = build_tables(collect_runs(tmp_path))
    assert list(one(tables, "sequential", users=943).mean.index) == ["SASRec"]
    assert list(one(tables, "sequential", users=40).mean.index) == ["Recformer (finetuned)"]


def test_runs_made_by_hand_are_their_own_rows(tmp_path):
    put(tmp_path, "11_lightgcn", "alignment=none-1234", "LightGCN", {"recall@20": 0.30}, at="2026-12-01T10:00:00")
    put(tmp_path, "11_lightgcn", "manual-20261201-120000", "LightGCN", {"recall@20": 0.99}, {"EPOCHS": 1},
        at="2026-12-01T12:00:00")
    rt = one(build_tables(collect_runs(tmp_path)), "rlmrec")
    assert rt.mean.loc["LightGCN", "recall@20"] == 0.30
    assert rt.mean.loc["LightGCN (by hand)", "recall@20"] == 0.99


def test_a_run_capped_by_its_time_budget_is_its_own_row_and_says_so(tmp_path):
    put(tmp_path, "11_lightgcn", "a", "LightGCN", {"recall@20": 0.30}, at="2026-12-01T10:00:00")
    capped = put(tmp_path, "13_simgcl", "b", "SimGCL", {"recall@20": 0.21}, at="2026-12-01T10:05:00")
    record = json.loads((capped / "metrics.json").read_text())
    (capped / "metrics.json").write_text(json.dumps({**record, "status": "capped"}))
    ceiling = put(tmp_path, "12_sgl", "c", "SGL", {"recall@20": 0.25}, at="2026-12-01T10:10:00")
    record = json.loads((ceiling / "metrics.json").read_text())
    (ceiling / "metrics.json").write_text(json.dumps({**record, "status": "epoch_limit"}))
    rt = one(build_tables(collect_runs(tmp_path)), "rlmrec")
    assert list(rt.mean.index) == ["LightGCN", "SGL (capped: not converged)", "SimGCL (capped: not converged)"]


def test_seeds_of_a_row_stay_one_row_when_some_were_capped_and_keep_their_base_marker(tmp_path):
    for seed, (base, con, status) in zip((1, 2, 3), ((0.30, 0.40, "converged"), (0.31, 0.41, "epoch_limit"),
                                                      (0.29, 0.42, "epoch_limit"))):
        for row, value, st in (("LightGCN", base, "epoch_limit"), ("LightGCN+Con", con, status)):
            run = put(tmp_path, "11_lightgcn", f"{row}-{seed}", row, {"recall@20": value},
                      {"ALIGNMENT": "con" if "+" in row else "none"}, seed=seed)
            record = json.loads((run / "metrics.json").read_text())
            (run / "metrics.json").write_text(json.dumps({**record, "status": st}))
    rt = one(build_tables(collect_runs(tmp_path)), "rlmrec")
    assert list(rt.mean.index) == ["LightGCN (capped: not converged)",
                                   "LightGCN+Con (capped: not converged in 2 of 3 seeds)"]
    assert rt.n_seeds.tolist() == [3, 3]
    assert rt.marks.loc["LightGCN+Con (capped: not converged in 2 of 3 seeds)", "recall@20"] == "▲"


def test_seeds_give_the_mean_and_a_95_percent_t_interval_and_other_parameters_are_not_averaged(tmp_path):
    for seed, value in zip((1, 2, 3), (0.30, 0.32, 0.37)):
        put(tmp_path, "11_lightgcn", f"s{seed}", "LightGCN", {"recall@20": value}, {"EPOCHS": 24}, seed=seed,
            at=f"2026-12-01T1{seed}:00:00")
    put(tmp_path, "11_lightgcn", "old", "LightGCN", {"recall@20": 0.01}, {"EPOCHS": 2}, seed=4, at="2026-12-01T09:00:00")
    rt = one(build_tables(collect_runs(tmp_path)), "rlmrec")
    values = np.array([0.30, 0.32, 0.37])
    half = 4.302652729911275 * values.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 df)
    assert rt.mean.loc["LightGCN", "recall@20"] == pytest.approx(values.mean())
    assert rt.ci95.loc["LightGCN", "recall@20"] == pytest.approx(half)
    assert rt.n_seeds["LightGCN"] == 3 and rt.superseded == {"LightGCN": 1}
    text = cells(rt).loc["LightGCN", "recall@20"]
    assert text == f"{values.mean():.4f} ± {half:.4f}" and cells(rt).loc["LightGCN", "seeds"] == "3"
    assert "1 older run(s) of LightGCN with other parameters" in table_markdown(rt)


def test_paired_marker_only_beyond_noise_over_shared_seeds():
    base = {1: 0.30, 2: 0.35, 3: 0.40}
    assert paired_mark({1: 0.32, 2: 0.37, 3: 0.43}, base) == "▲"   # +0.02, +0.02, +0.03: consistent
    assert paired_mark({1: 0.28, 2: 0.33, 3: 0.37}, base) == "▼"
    assert paired_mark({1: 0.33, 2: 0.34, 3: 0.41}, base) == ""    # +0.03, -0.01, +0.01: noise
    assert paired_mark({1: 0.50, 9: 0.60}, base) == ""             # one shared seed: no test
    assert base_row("rlmrec", "SimGCL+Con") == "SimGCL" and base_row("rlmrec", "SimGCL") is None
    assert base_row("rlmrec", "LightGCN+Con (raw text)") == "LightGCN"  # part 4's controls beside their base
    assert base_row("rlmrec", "LightGCN+Gen (shuffled)") == "LightGCN"
    assert base_row("llmrec", "LLMRec w/o-u") == "LightGCN (no augmentation)"
    assert base_row("sequential", "LEARN (finetuned)") == "SASRec" and base_row("cllm4rec", "CLLM4Rec") == "LightGCN"


def test_llm_rows_are_marked_against_their_base_row_in_the_table(tmp_path):
    for seed, (plain, con) in enumerate([(0.30, 0.32), (0.35, 0.37), (0.40, 0.43)], 1):
        put(tmp_path, "11_lightgcn", f"n{seed}", "LightGCN", {"recall@20": plain}, {"ALIGNMENT": "none"}, seed=seed)
        put(tmp_path, "11_lightgcn", f"c{seed}", "LightGCN+Con", {"recall@20": con}, {"ALIGNMENT": "con"}, seed=seed)
    rt = one(build_tables(collect_runs(tmp_path)), "rlmrec")
    assert rt.marks.loc["LightGCN+Con", "recall@20"] == "▲" and rt.marks.loc["LightGCN", "recall@20"] == ""
    assert rt.base == {"LightGCN+Con": "LightGCN"}
    assert "▲/▼: beyond noise against the base row (LightGCN+Con vs LightGCN)" in table_markdown(rt)


def test_captions_state_each_protocol_once_and_keep_their_own_slashes(tmp_path):
    proto = "test: 943 users; full ranking / all items; K in [10]"
    put(tmp_path, "06_sasrec", "a", "SASRec", {"ndcg@10": 0.1}, table="sequential", caption=f"SASRec; {proto}")
    put(tmp_path, "40_learn_pretrain", "b", "LEARN", {"ndcg@10": 0.2}, table="sequential", caption=f"LEARN; {proto}")
    put(tmp_path, "31_recformer_finetune", "c", "Recformer", {"ndcg@10": 0.3}, table="sequential",
        caption="test: 943 users; leave-one-out; by cosine")
    rt = one(build_tables(collect_runs(tmp_path)), "sequential")
    assert rt.caption() == (f"Protocols differ between rows. (1) SASRec, LEARN: {proto} "
                            "(2) Recformer: test: 943 users; leave-one-out; by cosine")


def test_every_value_links_to_its_run_folder_and_provenance_names_commit_date_machine(tmp_path):
    folder = put(tmp_path, "11_lightgcn", "a", "LightGCN", {"recall@20": 0.3}, commit="0123456789abcdef-dirty")
    runs = collect_runs(tmp_path)
    rt = one(build_tables(runs), "rlmrec")
    shown = cells(rt, link=lambda f: f"../runs/{Path(f).name}")
    assert "▲/▼" not in table_markdown(rt)  # one seed: no marker, no note
    assert shown.loc["LightGCN", "recall@20"] == "[0.3000](../runs/a)" and shown.loc["LightGCN", "runs"] == "[1](../runs/a)"
    prov = provenance(runs).iloc[0]
    assert prov["commit"] == "0123456789-dirty" and prov["finished_at"] == "2026-12-01T10:00:00"
    assert prov["machine"] == "AMD EPYC 7B13 x2; no GPU; device cpu" and prov["folder"] == str(folder)


def test_llm_stage_prefixes_become_rows_of_their_own(tmp_path):
    put(tmp_path, "20_llmrec_augment", "a", "LLMRec augmentation",
        {"pairs_failure_rate": 0.0, "profiles_failure_rate": 0.37, "profiles_wall_s": 9.0, "base_recall@20": 0.2},
        table="llm_stages", caption="ml100k: LLM x")
    rt = one(build_tables(collect_runs(tmp_path)), "llm_stages")
    assert list(rt.mean.index) == ["LLMRec augmentation", "LLMRec augmentation: pairs", "LLMRec augmentation: profiles"]
    assert rt.mean.loc["LLMRec augmentation: profiles", "failure_rate"] == 0.37
    assert rt.mean.loc["LLMRec augmentation: profiles", "wall_s"] == 9.0


def test_validation_curves_from_the_recorded_history(tmp_path):
    put(tmp_path, "06_sasrec", "a", "SASRec", {"ndcg@10": 0.1}, table="sequential",
        history=[{"epoch": 1, "loss": 3.0, "valid_ndcg@10": 0.05}, {"epoch": 2, "loss": 2.0, "valid_ndcg@10": 0.08}])
    cf = put(tmp_path, "14_dccf", "b", "DCCF", {"recall@20": 0.2})
    (cf / "history.json").write_text(json.dumps([{"epoch": 3, "valid_recall@20": 0.1, "valid_ndcg@20": 0.05},
                                                 {"epoch": 6, "valid_recall@20": 0.2}]))
    put(tmp_path, "51_cllm4rec_finetune", "c", None, {"valid_recall@20": 0.2}, table=None, seed=7,
        history=[{"epoch": 0, "valid_recall@20": 0.2}])  # a run that fills no table still has its curve
    put(tmp_path, "05_most_popular", "d", "MostPop", {"recall@20": 0.2})  # no history: no curve
    curves = validation_curves(collect_runs(tmp_path))
    assert curves[("ml100k · rlmrec split · ratings >= 4", "51_cllm4rec_finetune")][0]["label"] == "51_cllm4rec_finetune (seed 7)"
    assert len(curves) == 3
    sas = curves[("ml100k · rlmrec split · ratings >= 4", "06_sasrec")][0]
    assert (sas["x"], sas["y"], sas["metric"]) == ([1, 2], [0.05, 0.08], "valid_ndcg@10")
    dccf = curves[("ml100k · rlmrec split · ratings >= 4", "14_dccf")][0]
    assert (dccf["x"], dccf["y"], dccf["metric"]) == ([3, 6], [0.1, 0.2], "valid_recall@20")


def test_markdown_prints_integers_without_decimals_and_missing_as_empty():
    frame = pd.DataFrame({"n_users": [942.0, 943.0], "recall@20": [0.29091, np.nan]}, index=["a", "b"])
    frame.index.name = "t"
    lines = to_markdown(frame, "cap").splitlines()
    assert [c.strip() for c in lines[2].split("|")[2:4]] == ["942", "0.2909"]
    assert lines[3].split("|")[3].strip() == ""
    assert lines[-1] == "*cap*"


def test_readme_block_has_one_section_per_dataset_with_the_papers_columns(tmp_path):
    put(tmp_path, "11_lightgcn", "a", "LightGCN", {"recall@20": 0.3, "ndcg@20": 0.2, "hit@20": 0.9})
    put(tmp_path, "11_lightgcn", "b", "LightGCN", {"recall@20": 0.1, "ndcg@20": 0.05},
        {"DATASET": "rlmrec:data/yelp", "SPLIT": "given", "MIN_RATING": 0}, users=100)
    write_tables(build_tables(collect_runs(tmp_path)), tmp_path / "tables")
    block = readme_block(tmp_path / "tables")
    sections = block.split("### ")[1:]
    assert [s.splitlines()[0] for s in sections] == ["rlmrec · ml100k · rlmrec split · ratings >= 4 · 920 test users",
                                                   "rlmrec · rlmrec:data/yelp · given split · 100 test users"]
    assert "recall@20" in sections[0] and "hit@20" not in sections[0] and "0.3000" in sections[0]
    assert sections[0].strip().endswith("*" + CAP.format(n=920) + "*")
    from lmrec.run.reproduction import Reference, reproduction_table, write_reproduction

    ref = Reference("RLMRec", "rlmrec", ("rlmrec:yelp",), "LightGCN", "recall@20", 0.2, "published", "a table")
    write_reproduction(reproduction_table(collect_runs(tmp_path), [ref]), tmp_path / "tables")
    repro = (tmp_path / "tables" / "reproduction.md").read_text()
    assert "| RLMRec | rlmrec:yelp | LightGCN | recall@20 | 0.2000 | 0.1000 | 0.50 |" in repro  # the yelp run, not ml100k's
    assert "reproduction" not in readme_block(tmp_path / "tables")  # it is the README's bench-results block
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nold\n<!-- results:end -->\ntail\n")
    assert update_readme(readme, tmp_path / "tables") and "old" not in readme.read_text()
    assert readme.read_text().endswith("tail\n") and not update_readme(readme, tmp_path / "tables")


def test_rows_follow_notebook_order_then_first_appearance(tmp_path):
    put(tmp_path, "11_lightgcn", "a", "LightGCN", {"recall@20": 0.30}, at="2026-11-25T22:00")
    put(tmp_path, "05_most_popular", "b", "MostPop", {"recall@20": 0.17}, at="2026-11-25T21:00")
    put(tmp_path, "10_gccf", "c", "GCCF", {"recall@20": 0.29}, at="2026-11-25T23:00")
    put(tmp_path, "11_lightgcn", "d", "LightGCN", {"recall@20": 0.10}, at="2026-11-25T20:00")
    put(tmp_path, "11_lightgcn", "e", "LightGCN+Con", {"recall@20": 0.31}, {"ALIGNMENT": "con"}, at="2026-11-25T20:30")
    rt = one(build_tables(collect_runs(tmp_path)), "rlmrec")
    assert list(rt.mean.index) == ["MostPop", "GCCF", "LightGCN", "LightGCN+Con"]  # LightGCN first ran at 20:00
    assert rt.mean.loc["LightGCN", "recall@20"] == 0.30  # same seed, same parameters: the latest run


def test_llm_stages_of_one_dataset_share_one_table_with_each_caption_once(tmp_path):
    put(tmp_path, "01_profiles", "a", "01 profiles (local: smollm2)", {"calls": 10.0, "failure_rate": 0.2},
        table="llm_stages", caption="ml100k (rlmrec split): 942 users; calls = LLM calls made now")
    put(tmp_path, "20_llmrec_augment", "b", "LLMRec augmentation", {"pairs_failure_rate": 0.0},
        table="llm_stages", caption="ml100k: LLM x (local); base LightGCN; test: 920 users; full ranking")
    rt = one(build_tables(collect_runs(tmp_path)), "llm_stages")
    assert list(rt.mean.index) == ["01 profiles (local: smollm2)", "LLMRec augmentation: pairs"] and rt.users is None
    assert rt.caption() == ("(1) 01 profiles (local: smollm2): ml100k (rlmrec split): 942 users; calls = LLM calls "
                            "made now (2) LLMRec augmentation: pairs: ml100k: LLM x (local); base LightGCN; test: 920 "
                            "users; full ranking")


def test_the_datasets_table_has_one_row_per_dataset_and_split(tmp_path):
    put(tmp_path, "00_data", "a", "ml100k / rlmrec", {"n_users": 942.0}, table="datasets", caption="statistics")
    put(tmp_path, "00_data", "b", "ml100k / loo_time", {"n_users": 943.0}, {"SPLIT": "loo_time", "MIN_RATING": 0},
        table="datasets", caption="statistics")
    rt = one(build_tables(collect_runs(tmp_path)), "datasets")
    assert rt.mean["n_users"].to_dict() == {"ml100k · rlmrec split · ratings >= 4": 942.0,
                                           "ml100k · loo_time split": 943.0}


def test_readme_block_names_fact_tables_without_a_dataset_suffix(tmp_path):
    put(tmp_path, "00_data", "a", "ml100k / rlmrec", {"n_users": 942.0}, table="datasets", caption="statistics")
    write_tables(build_tables(collect_runs(tmp_path)), tmp_path / "tables")
    block = readme_block(tmp_path / "tables")
    assert block.startswith("### datasets\n") and "| ml100k · rlmrec split · ratings >= 4 |" in block and "942" in block


def test_dataset_label_names_a_rating_threshold_only_where_one_applies():
    from lmrec.run.report import dataset_label

    assert dataset_label("ml100k", "rlmrec", 4) == "ml100k · rlmrec split · ratings >= 4"
    assert dataset_label("ml100k", "loo_time", 0) == "ml100k · loo_time split"
    # a pre-split folder ignores MIN_RATING (load_dataset reads it as it is)
    assert dataset_label("rlmrec:../shared/data/rlmrec_yelp", "given", 4) == "rlmrec:../shared/data/rlmrec_yelp · given split"
