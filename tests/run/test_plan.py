"""The runner's plan: YAML merging, parameter validation, grids, overrides."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lmrec.run.plan import PlanError, build_plan, deep_merge, load_params, notebook_parameters


def make_notebook(folder: Path, name: str, params_src: str, body: str = "x = 1") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "lmrec", "display_name": "Python (lmrec)", "language": "python"}
    cell = nbformat.v4.new_code_cell(params_src)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebooks(tmp_path):
    make_notebook(tmp_path, "00_a", 'A = 1  # first\nSEED = 0  # seed\nRUN_DIR = ""  # runner')
    make_notebook(tmp_path, "10_b", 'B = "x"  # choice\nSEED = 0  # seed\nRUN_DIR = ""  # runner')
    return {p.stem: p for p in sorted(tmp_path.glob("*.ipynb"))}


def test_deep_merge_merges_mappings_and_replaces_the_rest():
    assert deep_merge({"a": {"x": 1, "y": 2}, "l": [1]}, {"a": {"y": 3}, "l": [2]}) == {"a": {"x": 1, "y": 3}, "l": [2]}


def test_folder_files_merge_in_name_order(tmp_path):
    (tmp_path / "00.yaml").write_text("globals: {SEED: 1}\nnotebooks: {00_a: {A: 2}}\n")
    (tmp_path / "10.yaml").write_text("globals: {SEED: 5}\n")
    assert load_params([tmp_path]) == {"globals": {"SEED": 5}, "notebooks": {"00_a": {"A": 2}}}


def test_unknown_section_is_rejected_with_the_file_name(tmp_path):
    (tmp_path / "bad.yaml").write_text("notebok: {}\n")
    with pytest.raises(PlanError, match="bad.yaml.*unknown section"):
        load_params([tmp_path / "bad.yaml"])


def test_globals_apply_only_where_declared_and_grid_expands(notebooks):
    params = {"globals": {"SEED": 7, "A": 3}, "grid": {"10_b": {"B": ["p", "q"]}}}
    plan = build_plan([], params, notebooks=notebooks)
    assert [(r.notebook, r.params) for r in plan] == [
        ("00_a", {"SEED": 7, "A": 3}), ("10_b", {"SEED": 7, "B": "p"}), ("10_b", {"SEED": 7, "B": "q"})]
    assert len({r.key for r in plan}) == 3


def test_unknown_parameter_is_rejected_with_the_valid_names(notebooks):
    with pytest.raises(PlanError, match=r"unknown parameter\(s\) \['C'\]; valid names: A, SEED"):
        build_plan(["00_a"], {"notebooks": {"00_a": {"C": 1}}}, notebooks=notebooks)
    with pytest.raises(PlanError, match="declared by no notebook"):
        build_plan([], {"globals": {"NOPE": 1}}, notebooks=notebooks)
    with pytest.raises(PlanError, match="RUN_DIR"):
        build_plan(["10"], {"grid": {"10_b": {"RUN_DIR": ["x"]}}}, notebooks=notebooks)


def test_set_overrides_plain_and_per_notebook(notebooks):
    plan = build_plan(["00", "10_b"], {}, overrides={"SEED": 3, "10_b.B": "z"}, notebooks=notebooks)
    assert [r.params for r in plan] == [{"SEED": 3}, {"SEED": 3, "B": "z"}]
    with pytest.raises(PlanError, match="declared by none"):
        build_plan(["00"], {}, overrides={"B": 1}, notebooks=notebooks)


def test_selection_by_number_glob_and_error(notebooks):
    assert [r.notebook for r in build_plan(["1*"], {}, notebooks=notebooks)] == ["10_b"]
    with pytest.raises(PlanError, match="no notebook matches"):
        build_plan(["99"], {}, notebooks=notebooks)


def test_comment_with_equals_sign_is_refused(tmp_path):
    path = make_notebook(tmp_path, "00_bad", 'A = 4  # ratings >= 4\nRUN_DIR = ""  # runner')
    with pytest.raises(PlanError, match="cannot parse"):
        notebook_parameters(path)


def test_list_grid_gives_one_run_per_mapping(notebooks):
    plan = build_plan(["00"], {"grid": {"00_a": [{"A": 1}, {"A": 2, "SEED": 9}]}}, notebooks=notebooks)
    assert [r.params for r in plan] == [{"A": 1}, {"A": 2, "SEED": 9}]
    assert plan[1].label == "a=2-seed=9"


def test_editing_a_default_changes_the_run_key_and_nothing_else_does(tmp_path):
    path = make_notebook(tmp_path, "00_a", 'A = 1  # first\nRUN_DIR = ""  # runner')
    key = build_plan([], {}, notebooks={"00_a": path})[0].key
    assert build_plan([], {}, notebooks={"00_a": path})[0].key == key           # stable
    make_notebook(tmp_path, "00_a", 'A = 1  # first, reworded\nRUN_DIR = ""  # runner')
    assert build_plan([], {}, notebooks={"00_a": path})[0].key == key           # comments do not count
    make_notebook(tmp_path, "00_a", 'A = 2  # first\nRUN_DIR = ""  # runner')
    assert build_plan([], {}, notebooks={"00_a": path})[0].key != key           # a new default re-runs
