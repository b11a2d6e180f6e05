"""bench/llm_ablations.py and params/llm_ablations (issue 24 part 4): the paired intervals against a hand-computed case,
which planned run is which arm, and a params set that shares the main job's own runs."""

from __future__ import annotations

import json
import math

import pytest

from lmrec.run.plan import build_plan, load_params
from lmrec.run.runner import run_folder
from tests.bench.scripts import load_bench_script
from tests.conftest import REPO_ROOT

abl = load_bench_script("llm_ablations")
PARAMS = [REPO_ROOT / "params" / "default", REPO_ROOT / "params" / "llm_ablations"]
T_975_DF2 = 4.302652729911275   # Student's t, 97.5 % quantile, 2 degrees of freedom
T_975_DF1 = 12.706204736174698  # 1 degree of freedom


def _obs(arm: str, values: dict[int, float], method: str = "LLMRec") -> list:
    return [abl.Observation(method, arm, s, {"recall@20": v, "ndcg@20": v / 2}) for s, v in values.items()]


def test_paired_interval_hand_computed():
    """a = .30 .32 .34, b = .28 .31 .30 on seeds 1-3: differences .02 .01 .04, mean .02333, sd .015275, half-width
    t(2) * sd / sqrt(3) = .037946. Unpaired (the arms' own intervals) it would be far wider; paired it is this."""
    summary = abl.summarize(_obs("generated", {1: .30, 2: .32, 3: .34}) + _obs("raw", {1: .28, 2: .31, 3: .30}))
    pair = summary["LLMRec"]["paired"]["generated - raw"]["recall@20"]
    sd = math.sqrt(((.02 - .07 / 3) ** 2 + (.01 - .07 / 3) ** 2 + (.04 - .07 / 3) ** 2) / 2)
    assert pair["n"] == 3 and pair["mean"] == pytest.approx(.07 / 3)
    assert pair["ci95"] == pytest.approx(T_975_DF2 * sd / math.sqrt(3)) and pair["ci95"] == pytest.approx(.037946, abs=1e-6)
    assert pair["verdict"] == "no difference shown"                          # .0233 - .0379 < 0
    arm = summary["LLMRec"]["arms"]["generated"]["recall@20"]
    assert arm["mean"] == pytest.approx(.32) and arm["ci95"] == pytest.approx(T_975_DF2 * .02 / math.sqrt(3))
    assert summary["LLMRec"]["paired"]["generated - raw"]["ndcg@20"]["mean"] == pytest.approx(.07 / 6)


def test_pairs_only_over_shared_seeds_and_verdicts():
    """A seed one arm lacks is left out of the pair; a consistent gain is 'a > b'."""
    summary = abl.summarize(_obs("generated", {1: .40, 2: .41, 3: .42}) + _obs("plain", {1: .30, 2: .32})
                            + _obs("shuffled", {1: .50, 2: .52, 3: .51}))
    pair = summary["LLMRec"]["paired"]["generated - plain"]["recall@20"]
    assert pair["n"] == 2 and sorted(pair["diffs"]) == [1, 2]
    assert pair["mean"] == pytest.approx(.095) and pair["ci95"] == pytest.approx(T_975_DF1 * math.sqrt(.00005) / math.sqrt(2))
    lower = summary["LLMRec"]["paired"]["generated - shuffled"]["recall@20"]
    assert lower["mean"] == pytest.approx(-.1) and lower["verdict"] == "a < b"  # diffs -.10 -.11 -.09
    assert "generated - raw" not in summary["LLMRec"]["paired"]                 # no raw arm: no such pair
    only = abl.summarize(_obs("generated", {1: .4}) + _obs("raw", {1: .3}))["LLMRec"]["paired"]["generated - raw"]
    assert only["recall@20"]["verdict"] == "n < 2" and math.isnan(only["recall@20"]["ci95"])
    text = abl.to_markdown(summary)
    assert "| generated - shuffled | -0.1000 ± " in text and "▼" in text


def test_arms_of_planned_runs():
    assert abl.arm_of("11_lightgcn", {"ALIGNMENT": "none", "PROFILE_SOURCE": "generated"}) == ("LightGCN+Con", "plain")
    assert abl.arm_of("11_lightgcn", {"ALIGNMENT": "con", "PROFILE_SOURCE": "raw"}) == ("LightGCN+Con", "raw")
    assert abl.arm_of("11_lightgcn", {"ALIGNMENT": "gen", "PROFILE_SOURCE": "generated"}) == ("LightGCN+Con", "gen")
    assert abl.arm_of("11_lightgcn", {"ALIGNMENT": "con", "PROFILE_SOURCE": "item_text"}) is None
    assert abl.arm_of("11_lightgcn", {"ALIGNMENT": "none", "TABLE": "cllm4rec"}) is None
    assert abl.arm_of("21_llmrec_train", {"VARIANT": "base", "TEXT_SOURCE": "generated"}) == ("LLMRec", "plain")
    assert abl.arm_of("21_llmrec_train", {"VARIANT": "full", "TEXT_SOURCE": "shuffled"}) == ("LLMRec", "shuffled")
    assert abl.arm_of("21_llmrec_train", {"VARIANT": "wo_ui", "TEXT_SOURCE": "generated"}) is None


def test_params_set_plans_three_training_seeds_of_every_arm_on_one_split(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))  # an outputs folder where nothing ran
    plan = build_plan(list(abl.NOTEBOOK_METHOD), load_params(PARAMS))
    _, missing = abl.observations_from_plan(PARAMS)  # every arm run is missing
    assert len(missing) == len(plan) == 3 * (5 + 4)
    want = {("LightGCN+Con", a) for a in ("plain", "generated", "raw", "shuffled", "gen")} | \
           {("LLMRec", a) for a in ("plain", "generated", "raw", "shuffled")}
    from lmrec.defaults import literal_defaults

    seen: dict[tuple[str, str], list[int]] = {}
    for run in plan:
        arm = abl.arm_of(run.notebook, {**literal_defaults(run.path), **run.params})
        seen.setdefault(arm, []).append(run.params["SEED"])
        assert run.params["SPLIT_SEED"] == 2023, run.name  # one split, the one the LLM products belong to
    assert set(seen) == want and all(sorted(s) == [2023, 2024, 2025] for s in seen.values())


def test_generated_and_plain_arms_are_the_main_jobs_own_runs():
    """Same parameters, same run folder: after the main job, the ablation set trains only its controls."""
    main = {r.name for r in build_plan(list(abl.NOTEBOOK_METHOD), load_params(PARAMS[:1]))}
    ablation = build_plan(list(abl.NOTEBOOK_METHOD), load_params(PARAMS))
    shared = [r for r in ablation if "source=" not in r.label]
    assert len(shared) == 3 * 5 and all(r.name in main for r in shared)


def test_smoke_overlay_plans_and_aligns_to_02s_product():
    sources = [REPO_ROOT / "params" / "smoke", *PARAMS[1:], REPO_ROOT / "params" / "llm_ablations" / "smoke"]
    plan = build_plan(list(abl.NOTEBOOK_METHOD), load_params(sources))
    cf = [r for r in plan if r.notebook == "11_lightgcn"]
    assert cf and all(r.params["PROFILE_SOURCE"] in ("generated", "raw", "shuffled") for r in cf)


def test_collect_reads_the_planned_run_folders_and_writes_md_and_json(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    plan = build_plan(list(abl.NOTEBOOK_METHOD), load_params(PARAMS))
    for i, run in enumerate(r for r in plan if r.notebook == "21_llmrec_train"):
        folder = run_folder(run)
        folder.mkdir(parents=True, exist_ok=True)
        value = .3 + .01 * (run.params["SEED"] - 2023) + (.02 if run.params.get("VARIANT") == "full" else 0)
        (folder / "metrics.json").write_text(json.dumps({"metrics": {"recall@20": value, "ndcg@20": value},
                                                         "caption": f"run {i}"}))
    record = abl.collect(PARAMS, tmp_path / "abl", "test")
    llmrec = record["methods"]["LLMRec"]
    assert set(llmrec["arms"]) == {"generated", "raw", "shuffled", "plain"}
    assert llmrec["paired"]["generated - plain"]["recall@20"]["mean"] == pytest.approx(.02)
    assert llmrec["paired"]["generated - plain"]["recall@20"]["ci95"] == pytest.approx(0, abs=1e-12)
    assert len(record["missing_runs"]) == 15 and "LightGCN+Con" not in record["methods"]
    text = (tmp_path / "abl.md").read_text()
    assert "| generated - plain | +0.0200 ± 0.0000 ▲ | +0.0200 ± 0.0000 ▲ | 3 |" in text
    assert json.loads((tmp_path / "abl.json").read_text())["methods"]["LLMRec"]["arms"]["plain"]["seeds"] == [2023, 2024, 2025]
