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


def test_precedence_is_globals_then_notebooks_then_grid_then_set(notebooks):
    """Each layer overrides the one before it: a grid entry beats the notebook's fixed values (else a grid
    would run one setting under several labels), and --set beats everything."""
    params = {"globals": {"SEED": 1, "A": 2}, "notebooks": {"00_a": {"A": 3, "SEED": 4}},
              "grid": {"00_a": [{"A": 5}, {"A": 6}]}}
    assert [r.params for r in build_plan(["00"], params, notebooks=notebooks)] == [{"SEED": 4, "A": 5},
                                                                                  {"SEED": 4, "A": 6}]
    plan = build_plan(["00"], params, overrides={"00_a.A": 7}, notebooks=notebooks)
    assert [r.params["A"] for r in plan] == [7, 7]
    assert build_plan(["00"], {k: params[k] for k in ("globals", "notebooks")}, notebooks=notebooks)[0].params == \
        {"SEED": 4, "A": 3}


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


@pytest.fixture
def typed(tmp_path):
    make_notebook(tmp_path, "10_t", 'DATASET = "ml100k"  # name\nSPLIT = "rlmrec"  # split\nEPOCHS = 24  # epochs\n'
                  'LR = 0.005  # lr\nKS = [5, 10]  # cut-offs\nFLAG = True  # flag\nSEED = 2023  # seed\nRUN_DIR = ""  # runner')
    return {p.stem: p for p in sorted(tmp_path.glob("*.ipynb"))}


def test_values_of_the_wrong_type_are_refused_at_plan_time_naming_the_parameter(typed):
    with pytest.raises(PlanError, match=r"--set for 10_t: EPOCHS='abc' is a string, but the parameters cell says "
                                        r"EPOCHS = 24 \(an int\); give an int"):
        build_plan([], {}, overrides={"EPOCHS": "abc"}, notebooks=typed)
    with pytest.raises(PlanError, match=r"grid.10_t: KS=5 is an int.*a list"):
        build_plan([], {"grid": {"10_t": {"KS": [5]}}}, notebooks=typed)      # a list of scalars is a grid axis
    with pytest.raises(PlanError, match=r"notebooks.10_t: FLAG=1 is an int.*a bool"):
        build_plan([], {"notebooks": {"10_t": {"FLAG": 1}}}, notebooks=typed)
    with pytest.raises(PlanError, match=r"LR='1e-3' is a string"):            # YAML reads 1e-3 as a string
        build_plan([], {}, overrides={"LR": "1e-3"}, notebooks=typed)
    plan = build_plan([], {"grid": {"10_t": {"KS": [[10, 20]]}}}, overrides={"LR": 1, "EPOCHS": 3}, notebooks=typed)
    assert plan[0].params == {"KS": [10, 20], "LR": 1, "EPOCHS": 3}            # an int is a fine float


def rlmrec_folder(folder: Path) -> Path:
    """A small dataset written in the RLMRec format (``trn/val/tst_mat.pkl``) into ``folder``."""
    import numpy as np

    from lmrec.data import InteractionDataset, make_interactions
    from lmrec.data.formats import write_format

    user, item = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 2, 2, 0])
    split = np.array(["train", "valid", "train", "test", "train", "train"], dtype=object)
    ds = InteractionDataset(name="t", interactions=make_interactions(user, item, split), n_users=3, n_items=3,
                            user_ids=np.arange(3).astype(str).astype(object), item_ids=np.arange(3).astype(str).astype(object))
    return write_format("rlmrec", ds, folder)


def test_a_format_folder_dataset_needs_the_given_split_at_plan_time(typed, tmp_path):
    with pytest.raises(PlanError, match=r"DATASET='rlmrec:data/yelp'.*pre-split; set SPLIT='given' \(got SPLIT='rlmrec'\)"):
        build_plan([], {}, overrides={"DATASET": "rlmrec:data/yelp"}, notebooks=typed)  # SPLIT from the cell's default
    with pytest.raises(PlanError, match="SPLIT='given' needs a '<format>:<folder>' DATASET"):
        build_plan([], {}, overrides={"SPLIT": "given"}, notebooks=typed)
    folder = rlmrec_folder(tmp_path / "yelp")
    assert build_plan([], {}, overrides={"DATASET": f"rlmrec:{folder}", "SPLIT": "given"}, notebooks=typed)


def test_a_missing_dataset_folder_is_refused_once_by_run_before_any_kernel_starts(tmp_path, monkeypatch, capsys):
    """`run 11 --set DATASET=rlmrec:/nonexistent` started each of the plan's 12 kernels to fail in every one: `run`
    and `plan` refuse it once, with the loader's own message, and start nothing."""
    from lmrec.__main__ import main
    from lmrec.run import runner

    started = []
    monkeypatch.setattr(runner, "execute", lambda run, kernel="lmrec": started.append(run))
    for command in ("run", "plan"):
        assert main([command, "11", "--set", f"DATASET=rlmrec:{tmp_path}/none", "--set", "SPLIT=given"]) == 2
        err = capsys.readouterr().err
        assert err == (f"error: 11_lightgcn: DATASET='rlmrec:{tmp_path}/none': {tmp_path}/none: not a folder; "
                       "DATASET='rlmrec:<folder>' must name a folder in the rlmrec format\n")
    assert not started


def test_a_dataset_folder_lacking_its_formats_files_is_refused_at_plan_time(typed, tmp_path):
    grid = {"grid": {"10_t": {"SEED": [1, 2, 3]}}}
    folder = rlmrec_folder(tmp_path / "yelp")
    (folder / "tst_mat.pkl").unlink()
    with pytest.raises(PlanError, match=r"tst_mat.pkl: missing; expected the test matrix \(users x items\)"):
        build_plan([], grid, {"DATASET": f"rlmrec:{folder}", "SPLIT": "given"}, notebooks=typed)
    for bad, message in (("cllm4rec", r"meta.pkl: missing"), ("recformer", r"smap.json: missing"),
                         ("llmrec", r"train.json: missing"), ("parquet", r"unknown dataset format 'parquet'")):
        with pytest.raises(PlanError, match=message):
            build_plan([], grid, {"DATASET": f"{bad}:{folder}", "SPLIT": "given"}, notebooks=typed)


def test_the_plan_refuses_a_folder_with_the_message_the_loader_gives(tmp_path):
    """One check, two callers: what the plan says is what reading the folder in a kernel would say."""
    from lmrec.data import load_dataset
    from lmrec.run.plan import check_dataset_folder

    folder = rlmrec_folder(tmp_path / "yelp")
    (folder / "val_mat.pkl").unlink()
    with pytest.raises(ValueError) as loader:
        load_dataset(f"rlmrec:{folder}", "given")
    with pytest.raises(PlanError) as plan:
        check_dataset_folder(f"rlmrec:{folder}", "11_lightgcn")
    assert str(plan.value) == f"11_lightgcn: DATASET='rlmrec:{folder}': {loader.value}"


def test_run_folders_are_named_from_the_final_values_and_never_cut_mid_value(typed, tmp_path):
    folder = rlmrec_folder(tmp_path / "rlmrec_yelp")
    plan = build_plan([], {"grid": {"10_t": {"SPLIT": ["given"]}}},
                      overrides={"DATASET": f"rlmrec:{folder}"}, notebooks=typed)
    assert plan[0].label == "split=given-dataset=rlmrec-rlmrec_yelp"
    too_long = build_plan([], {"grid": {"10_t": [{"KS": list(range(1, 40)), "EPOCHS": 3}]}}, notebooks=typed)[0]
    assert too_long.label == "epochs=3"  # a part that does not fit is left out whole; the run key tells runs apart
    fits = build_plan([], {"grid": {"10_t": [{"EPOCHS": 3, "KS": list(range(1, 40))}]}}, notebooks=typed)[0]
    assert fits.label == "epochs=3"


def test_seeds_repeat_the_chosen_notebooks_once_per_seed(typed, notebooks):
    nbs = {**notebooks, **typed}
    params = {"globals": {"SEED": 7}, "seeds": {"SEEDS": [1, 2, 3], "notebooks": ["10_t"]},
              "grid": {"10_t": {"EPOCHS": [3, 4]}}}
    plan = build_plan([], params, notebooks=nbs)
    got = [(r.notebook, r.params.get("EPOCHS"), r.params["SEED"], r.label) for r in plan]
    assert got[:2] == [("00_a", None, 7, ""), ("10_b", None, 7, "")]
    assert got[2:] == [("10_t", e, s, f"seed={s}-epochs={e}") for e in (3, 4) for s in (1, 2, 3)]
    assert len({r.key for r in plan}) == len(plan)
    assert [r.params["SEED"] for r in build_plan(["10_t"], params, {"SEED": 5}, notebooks=nbs)] == [5, 5]  # --set wins
    with pytest.raises(PlanError, match="seeds.SEEDS: expected a list of ints"):
        build_plan([], {"seeds": {"SEEDS": "1,2", "notebooks": ["10_t"]}}, notebooks=nbs)


def test_a_grid_entry_can_carry_its_own_seeds(typed):
    params = {"grid": {"10_t": [{"EPOCHS": 3}, {"EPOCHS": 4, "SEEDS": [1, 2]}]}, "seeds": {"SEEDS": [7], "notebooks": []}}
    plan = build_plan([], params, notebooks=typed)
    assert [(r.params["EPOCHS"], r.params.get("SEED")) for r in plan] == [(3, None), (4, 1), (4, 2)]
    with pytest.raises(PlanError, match="SEEDS must be a non-empty list of ints"):
        build_plan([], {"grid": {"10_t": [{"SEEDS": 3}]}}, notebooks=typed)


def test_exponent_floats_are_floats_in_files_and_in_set(tmp_path):
    """PyYAML reads `1e-3` as a string (YAML 1.1); a learning rate written so must reach the plan as a float."""
    from lmrec.__main__ import _parse_set

    (tmp_path / "lr.yaml").write_text("globals: {LR: 1e-3, NAME: 1e}\n")
    assert load_params([tmp_path]) == {"globals": {"LR": 0.001, "NAME": "1e"}}
    assert _parse_set(["LR=5e-4", "10_b.KS=[1e1, 2]"]) == {"LR": 0.0005, "10_b.KS": [10.0, 2]}


def test_the_time_budget_is_not_part_of_a_runs_identity(tmp_path):
    """TIME_LIMIT_S bounds how long a run may take, not what it computes: a run capped under one budget is
    the same run (folder) under another, so re-running it with a new budget resumes it."""
    make_notebook(tmp_path, "10_x", 'LR = 0.1  # rate\nTIME_LIMIT_S = 0  # budget\nRUN_DIR = ""  # runner')
    nbs = {p.stem: p for p in tmp_path.glob("*.ipynb")}

    def name(**overrides):
        [run] = build_plan([], {}, overrides, notebooks=nbs)
        return run.name, run.params

    base, params = name(TIME_LIMIT_S=3000)
    assert params["TIME_LIMIT_S"] == 3000  # the notebook still gets its budget
    assert "time_limit" not in base
    assert name(TIME_LIMIT_S=60)[0] == base == name()[0]
    assert name(LR=0.2, TIME_LIMIT_S=3000)[0] != base


def test_a_runs_values_are_the_cells_defaults_as_python_values_under_the_plans_values(typed):
    run = build_plan([], {"notebooks": {"10_t": {"KS": [20]}}}, {"EPOCHS": 3}, notebooks=typed)[0]
    assert run.values == {"DATASET": "ml100k", "SPLIT": "rlmrec", "EPOCHS": 3, "LR": 0.005, "KS": [20], "FLAG": True,
                          "SEED": 2023}
    assert run.defaults["LR"] == "0.005"  # the run's identity keeps the source text (run folders do not move)


def test_the_two_readers_of_a_parameters_cell_agree_on_every_notebook():
    """papermill's reading (names, source text: what the runner injects and checks names against) and
    lmrec.defaults.literal_defaults (Python values: what library code, the plan's types and the pack use) see the
    same parameters with the same values: a default that is not a plain literal would split them."""
    import ast

    from lmrec.defaults import literal_defaults
    from lmrec.run.plan import find_notebooks

    for name, path in find_notebooks().items():
        text, typed = notebook_parameters(path), literal_defaults(path)
        assert set(text) == set(typed), f"{name}: only papermill sees {sorted(set(text) - set(typed))}"
        for key, source in text.items():
            value = ast.literal_eval(source)
            assert (value, type(value)) == (typed[key], type(typed[key])), f"{name}: {key} = {source}"


def test_a_params_file_states_shared_values_once_with_an_anchor_and_merge_key(tmp_path):
    (tmp_path / "p.yaml").write_text("notebooks:\n  00_a: {<<: &both {A: 2, SEED: 7}, X: 1}\n  10_b: {<<: *both, B: y}\n")
    assert load_params([tmp_path / "p.yaml"])["notebooks"] == {"00_a": {"A": 2, "SEED": 7, "X": 1},
                                                                "10_b": {"A": 2, "SEED": 7, "B": "y"}}
