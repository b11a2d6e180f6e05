"""Backbone configuration: one validated dataclass per backbone, unknown names rejected for every backbone,
one default per name (the notebook's parameters cell and the dataclass agree), every name wired."""

import dataclasses

import pytest

from lmrec.cf import BackboneConfig, Graph, build_backbone
from lmrec.cf.registry import BACKBONES, NOTEBOOKS, backbone_class
from lmrec.defaults import notebook_defaults
from lmrec.paths import REPO_ROOT

from .cf_planted import planted_dataset


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_unknown_extra_key_is_rejected_naming_the_key_and_the_valid_ones(name):
    g = Graph(planted_dataset().train)
    valid = backbone_class(name).Params.names()
    with pytest.raises(ValueError) as err:
        build_backbone(name, g, BackboneConfig(dim=8, layers=1, extra={"keep_rte": 0.5}))
    msg = str(err.value)
    assert "keep_rte" in msg and name in msg
    assert all(v in msg for v in valid), msg


@pytest.mark.parametrize("name, extra, word", [
    ("gccf", {"self_loops": "no"}, "bool"), ("lightgcn", {"edge_drop": "nodes"}, "entries"),
    ("lightgcn", {"keep_rate": 0.0}, "keep_rate"), ("dccf", {"n_intents": 1.5}, "int"),
    ("dccf", {"contrastive_items": "all"}, "positives"), ("simgcl", {"eps": "0.1"}, "float"),
    ("autocf", {"con_negatives": 1}, "bool")])
def test_ill_typed_or_out_of_range_values_are_rejected(name, extra, word):
    with pytest.raises(ValueError, match=word):
        backbone_class(name).Params.from_extra(extra, name)


def test_params_are_typed_and_come_from_notebook_names():
    p = backbone_class("dccf").Params.from_params({"N_INTENTS": 16.0, "CL_WEIGHT": 1, "LR": 0.1, "DATASET": "x"})
    assert p.n_intents == 16 and isinstance(p.n_intents, int) and p.cl_weight == 1.0 and isinstance(p.cl_weight, float)
    assert p.contrastive_items == "batch"  # the default
    g = Graph(planted_dataset().train)
    bb = build_backbone("sgl", g, BackboneConfig(dim=8, layers=1, extra={"keep_rate": 0.5}))
    assert bb.params.keep_rate == 0.5 and bb.params.cl_weight == backbone_class("simgcl").Params().cl_weight


def _spec_cell(nb: str) -> str:
    import nbformat

    cells = nbformat.read(REPO_ROOT / f"notebooks/{nb}.ipynb", as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "code" and "CFSpec.from_params" in c.source)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_one_default_per_name_and_every_name_reaches_the_backbone(name):
    """The notebook's parameters cell (what runs) and the backbone's dataclass (what library users get) hold
    the same default for every model-specific name, and the notebook passes every name into ``extra``."""
    nb = NOTEBOOKS[name]
    declared = notebook_defaults(nb)  # the cell's defaults as values (lmrec.defaults, the planner's reader)
    spec = _spec_cell(nb)
    for f in dataclasses.fields(backbone_class(name).Params):
        upper = f.name.upper()
        assert upper in declared, f"{nb}: the parameters cell lacks {upper}"
        value = declared[upper]
        assert value == f.default, f"{nb}: {upper} = {value!r} in the notebook but {f.default!r} in {name}'s params"
    assert f'CFSpec.from_params("{name}", run.params)' in spec, f"{nb}: the spec is not built from its parameters"
    from lmrec.cf.notebook import CFSpec

    extra = CFSpec.from_params(name, notebook_defaults(nb)).extra
    missing = [f.name for f in dataclasses.fields(backbone_class(name).Params) if f.name not in extra]
    assert not missing, f"{nb}: extra does not pass {missing}"
