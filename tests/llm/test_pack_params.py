"""The run parameters a pack records are the plan's values (one reader of the parameters cells, the planner's)."""

from __future__ import annotations

from lmrec.defaults import notebook_defaults
from lmrec.pack import PACK_NOTEBOOKS, pack_params, planned_params


def test_a_packs_run_parameters_are_the_cells_defaults_under_the_pack_sets_values():
    params = pack_params()
    planned = planned_params(params)
    assert set(planned) == set(PACK_NOTEBOOKS)
    for notebook in PACK_NOTEBOOKS:
        given = {**(params.get("globals") or {}), **params["notebooks"][notebook]}
        want = {**notebook_defaults(notebook), **{k: v for k, v in given.items() if k in notebook_defaults(notebook)}}
        assert planned[notebook] == want, notebook
        assert "RUN_DIR" not in planned[notebook]


def test_a_set_value_reaches_the_recorded_parameters_with_its_type():
    planned = planned_params(pack_params(), {"01_profiles.MAX_NEW_TOKENS": 7})
    assert planned["01_profiles"]["MAX_NEW_TOKENS"] == 7
    assert isinstance(planned["01_profiles"]["PRICE_IN"], float)  # a default read as a value, not as its text
