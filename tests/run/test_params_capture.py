"""start_run records the notebook's parameters itself (the caller's UPPER_CASE plain values)."""

from __future__ import annotations

from lmrec.run.context import namespace_parameters, start_run

EPOCHS = 7
KS = [5, 10]
RUN_DIR = "/somewhere"
MODEL_OBJECT = object()
lower_case = 1


def test_start_run_captures_the_callers_parameters_without_run_dir_or_objects(tmp_path):
    run = start_run("x", str(tmp_path), seed=0, device="cpu")
    assert run.params["EPOCHS"] == 7 and run.params["KS"] == [5, 10]
    assert "RUN_DIR" not in run.params and "MODEL_OBJECT" not in run.params and "lower_case" not in run.params
    assert start_run("x", str(tmp_path), params={"A": 1}, seed=0, device="cpu").params == {"A": 1}


def test_notebook_parameters_filters_a_namespace():
    assert namespace_parameters({"A": 1, "_B": 2, "c": 3, "RUN_DIR": "", "D": None, "E": {1, 2}}) == {"A": 1, "D": None}
