"""Every notebook: well-formed (kernel, parameters, stripped, ends in run.finish) and executed by the
runner with the smoke parameters, ending in the HTML report."""

from __future__ import annotations

import json

import nbformat
import pytest

from lmrec.paths import report_dir, tables_dir
from lmrec.run.plan import build_plan, find_notebooks, load_params, notebook_parameters
from lmrec.run.report import CAPPED
from lmrec.run.runner import run_plan

from . import smoke_metrics
from .conftest import REPO_ROOT

NOTEBOOKS = find_notebooks()


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_is_well_formed(name):
    path = NOTEBOOKS[name]
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "lmrec", "papermill needs the project kernelspec"
    params = notebook_parameters(path)
    assert {"SEED", "DEVICE", "RUN_DIR"} <= set(params), f"{name}: parameters cell must declare SEED, DEVICE, RUN_DIR"
    assert params["RUN_DIR"] == '""', f"{name}: RUN_DIR must default to an empty string"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{name}: strip outputs"
    assert "run.finish(" in code[-1].source, f"{name}: the last cell must write metrics.json via run.finish"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), f"{name}: start with a title"


def test_default_and_smoke_plans_cover_every_notebook():
    for folder in ("default", "smoke"):
        plan = build_plan([], load_params([REPO_ROOT / "params" / folder]))
        assert {r.notebook for r in plan} == set(NOTEBOOKS)


@pytest.mark.parametrize("folders", [("default",), ("smoke",), ("default", "recformer_full")])
def test_every_recformer_finetuning_run_starts_from_a_pretraining_run_of_its_plan(folders):
    """PRETRAINED auto reads the notebook-30 checkpoint of PRETRAIN_SEED (else SEED): that run must be planned too,
    on the same data, or notebook 31 stops with 'no pretrained checkpoint'."""
    plan = build_plan(["30", "31"], load_params([REPO_ROOT / "params" / f for f in folders]))
    pretrained = {(r.params.get("DATASET", "ml100k"), r.params.get("SEED")) for r in plan if r.notebook.startswith("30")}
    runs = [r for r in plan if r.notebook.startswith("31")]
    assert runs
    for r in runs:
        want = (r.params.get("DATASET", "ml100k"), r.params.get("PRETRAIN_SEED") or r.params.get("SEED"))
        assert want in pretrained, (r.label, sorted(pretrained))


@pytest.fixture(scope="session")
def smoke_outcomes():
    plan = build_plan([], load_params([REPO_ROOT / "params" / "smoke"]))
    return run_plan(plan, force=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_runs_with_smoke_parameters(smoke_outcomes, name):
    mine = [o for o in smoke_outcomes if o.run.notebook == name]
    assert mine, f"{name} is not in the smoke plan"
    for outcome in mine:
        assert outcome.status == "done", f"{outcome.run.name}: {outcome.error} (see {outcome.folder}/executed.ipynb)"
        record = json.loads((outcome.folder / "metrics.json").read_text())
        assert record["notebook"] == name and record["params"] is not None


def test_the_expected_metrics_table_has_one_row_per_smoke_run():
    """Rows are keyed by notebook and label: a renamed parameter or a new grid entry needs the table regenerated."""
    planned = {smoke_metrics.run_key(r.notebook, r.label) for r in smoke_metrics.smoke_plan()}
    table = set(smoke_metrics.load_table())
    assert len(planned) == len(smoke_metrics.smoke_plan()), "two smoke runs share a label: the table cannot tell them apart"
    assert planned == table, (f"smoke runs without a row: {sorted(planned - table)}; rows without a smoke run: "
                              f"{sorted(table - planned)}; regenerate with `{smoke_metrics.REGENERATE}`")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_smoke_run_metrics_match_the_expected_table(smoke_outcomes, name):
    """Each smoke run's metrics equal tests/expected_smoke_metrics.json within tests/smoke_metrics.py's tolerances: a
    change that halves a model's quality fails here, not only one that stops a notebook."""
    table = smoke_metrics.load_table()
    problems = []
    for outcome in (o for o in smoke_outcomes if o.run.notebook == name and o.status == "done"):
        key = smoke_metrics.run_key(name, outcome.run.label)
        got = json.loads((outcome.folder / "metrics.json").read_text())["metrics"]
        problems += smoke_metrics.compare(name, key, got, table.get(key))
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_smoke_plan_ends_in_html_report_and_tables(smoke_outcomes):
    html = report_dir() / "index.html"
    assert html.exists() and html.stat().st_size > 10_000
    text = html.read_text()
    assert "MostPop" in text and "ml100k" in text
    assert (tables_dir() / "datasets.csv").exists()
    cllm4rec = (tables_dir() / "cllm4rec.csv").read_text().splitlines()
    assert "recall@40" in cllm4rec[0] and any(line.startswith(("LightGCN,", f"LightGCN{CAPPED},")) for line in cllm4rec), \
        "the LightGCN run under CLLM4Rec's protocol must land in the cllm4rec table"
    assert "build_tables(runs)" not in text, "the report HTML must leave out code cells"


TRAINED = {"06_sasrec", "10_gccf", "11_lightgcn", "12_sgl", "13_simgcl", "14_dccf", "15_autocf", "21_llmrec_train",
           "31_recformer_finetune", "40_learn_pretrain", "41_learn_finetune", "51_cllm4rec_finetune"}


@pytest.mark.slow
def test_every_trained_model_has_a_validation_curve_in_the_report(smoke_outcomes):
    from lmrec.run.report import collect_runs, validation_curves

    drawn = {notebook for _, notebook in validation_curves(collect_runs())}
    assert TRAINED <= drawn, f"no recorded validation history for {sorted(TRAINED - drawn)}"
