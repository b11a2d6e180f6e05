"""Products handed on from one notebook to the next carry the parameters of the run that made them
(lmrec.paths.hand_on / take_over): the next notebook reads them instead of restating them, and a request the record
contradicts names every differing value."""

from __future__ import annotations

import json

import pytest

from lmrec.paths import (
    HANDOFF_RECORD,
    HandoffMismatch,
    hand_on,
    pointer_path,
    read_handoff,
    take_over,
    write_pointer,
)
from lmrec.run.plan import build_plan, load_params

from .conftest import REPO_ROOT

UPSTREAM = {"DATASET": "ml100k", "SPLIT": "loo_time", "N_LAYERS": 2, "LR": 1e-3, "KS": (10, 50), "SEED": 2023}


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path


def _product(root, name="product"):
    folder = root / name
    folder.mkdir()
    (folder / "weights.pt").write_text("w")
    return folder


def test_the_next_notebook_reads_the_upstream_runs_parameters_by_pointer_product_or_run_folder(outputs):
    product, run_dir = _product(outputs), outputs / "run"
    run_dir.mkdir()
    pointer = pointer_path("m", "stage", "s2023")
    hand_on(pointer, product, "40_up", UPSTREAM, run_dir)
    for source in ("auto", str(product), str(product / "weights.pt"), str(run_dir)):
        got = take_over(source, pointer, "run 40", requested={"SEED": 2023, "KS": (10, 50), "LR": 0.001})
        assert got.product == product.resolve() and got.folder == product.resolve()
        assert got.notebook == "40_up" and got["N_LAYERS"] == 2 and got.params["KS"] == [10, 50]
    record = json.loads((product / HANDOFF_RECORD).read_text())
    assert record == json.loads((run_dir / HANDOFF_RECORD).read_text()) and record["product"] == str(product.resolve())


def test_a_product_whose_outputs_folder_moved_is_taken_from_where_it_is_now(outputs):
    (outputs / "a").mkdir()
    product = _product(outputs / "a")
    hand_on(pointer_path("m", "stage", "s2023"), product, "40_up", UPSTREAM)
    moved = (outputs / "a").rename(outputs / "b") / "product"
    for source in (moved, moved / "weights.pt"):
        assert take_over(str(source), pointer_path("m", "x", "s0"), "run 40").product == moved.resolve()
    with pytest.raises(FileNotFoundError, match="is gone"):  # a run folder's record names a product elsewhere
        run_dir = outputs / "run"
        run_dir.mkdir()
        (run_dir / HANDOFF_RECORD).write_text((moved / HANDOFF_RECORD).read_text())
        take_over(str(run_dir), pointer_path("m", "x", "s0"), "run 40")


def test_a_request_the_record_contradicts_names_every_differing_value(outputs):
    pointer = pointer_path("m", "stage", "s2023")
    hand_on(pointer, _product(outputs), "40_up", UPSTREAM)
    with pytest.raises(HandoffMismatch) as err:
        take_over("auto", pointer, "run 40", requested={"SEED": 2024, "N_LAYERS": 3, "SPLIT": "loo_time", "NEW": 1})
    message = str(err.value)
    assert "SEED: this run 2024, 40_up ran with 2023" in message and "N_LAYERS: this run 3, 40_up ran with 2" in message
    assert "SPLIT" not in message and "NEW" not in message  # equal values and names the record lacks are no conflict
    assert HANDOFF_RECORD in message


def test_a_missing_product_says_what_to_run_and_which_values_the_products_found_have(outputs):
    hand_on(pointer_path("m", "stage", "s2023"), _product(outputs), "40_up", UPSTREAM)
    with pytest.raises(FileNotFoundError, match=r"run 40 with SEED=2024 \(found under other values: SEED=2023\)"):
        take_over("auto", pointer_path("m", "stage", "s2024"), "run 40 with SEED=2024", requested={"SEED": 2024})
    with pytest.raises(FileNotFoundError, match="no such product or run folder"):
        take_over(str(outputs / "nowhere"), pointer_path("m", "stage", "s2023"), "run 40")


def test_a_product_without_record_has_no_parameters_and_a_read_name_says_what_to_run(outputs):
    product = _product(outputs, "older")
    write_pointer(pointer_path("m", "stage", "s1"), product)  # handed on before records were kept
    got = take_over("auto", pointer_path("m", "stage", "s1"), "run 40", requested={"SEED": 1})
    assert got.params == {} and got.product == product.resolve()
    with pytest.raises(KeyError, match="recorded no parameter 'N_LAYERS'; run the upstream notebook again"):
        got["N_LAYERS"]
    assert read_handoff(product).notebook == ""


@pytest.mark.parametrize("folders", [("default",), ("smoke",)])
@pytest.mark.parametrize("downstream,upstream", [("41_learn_finetune", "40_learn_pretrain"),
                                                 ("51_cllm4rec_finetune", "50_cllm4rec_pretrain"),
                                                 ("52_cllm4rec_predict", "51_cllm4rec_finetune")])
def test_every_downstream_run_of_a_plan_finds_an_upstream_run_with_its_seed(folders, downstream, upstream):
    """41, 51 and 52 take over the product of the upstream run with their SEED: with seeds, that run must be planned
    too, or the downstream stops with 'no ... for SEED=...'."""
    plan = build_plan([downstream[:2], upstream[:2]], load_params([REPO_ROOT / "params" / f for f in folders]))
    made = {r.params.get("SEED") for r in plan if r.notebook == upstream}
    wanted = [r.params.get("SEED") for r in plan if r.notebook == downstream]
    assert wanted and set(wanted) <= made, (wanted, made)
