"""One name for a CF backbone's number of propagation layers: ``layers`` in lmrec.cf (``BackboneConfig.layers``,
``Backbone.layers``, function arguments) and ``LAYERS`` in notebooks 10-15 and their parameter files."""

from __future__ import annotations

import ast

from lmrec.paths import notebooks_dir
from lmrec.run.plan import notebook_parameters

from ..conftest import REPO_ROOT

OTHER_NAMES = {"n_layers", "num_layers", "n_layer", "layer_num", "gcn_layers", "gcn_layer", "num_gcn_layers"}
CF_NOTEBOOKS = ("10_gccf", "11_lightgcn", "12_sgl", "13_simgcl", "14_dccf", "15_autocf")


def names_in(source: str) -> set[str]:
    """Every identifier a module binds or reads: variables, arguments, attributes, keyword arguments."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            out.add(node.arg)
    return out


def test_names_in_sees_arguments_attributes_and_keywords():
    found = names_in("def f(n_layers): return g(obj.num_layers, layer_num=1)")
    assert {"n_layers", "num_layers", "layer_num"} <= found


def test_cf_code_calls_the_layer_count_layers():
    for path in sorted((REPO_ROOT / "lib" / "lmrec" / "cf").glob("*.py")):
        other = names_in(path.read_text()) & OTHER_NAMES
        assert not other, f"{path.name}: {sorted(other)} for the layer count; lmrec.cf calls it `layers`"


def test_cf_notebooks_declare_layers_only():
    for name in CF_NOTEBOOKS:
        declared = set(notebook_parameters(notebooks_dir() / f"{name}.ipynb"))
        assert "LAYERS" in declared, name
        assert not declared & {n.upper() for n in OTHER_NAMES}, name
