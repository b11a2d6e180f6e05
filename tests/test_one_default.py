"""Each hyperparameter default is stated once: a library default never disagrees with a notebook's parameters
cell (the documented home of every default), and params/default never restates a notebook default with another
value (the parameters cell holds the main job's values).

The bindings "notebook parameter -> library default" are found, not listed by hand, so a new notebook or config
is covered without editing this file:

* in a notebook's code and in the library modules it imports: ``SomeConfig(field=NAME)``,
  ``SomeConfig(field=NAME or None)`` and ``SomeConfig(field=params["NAME"])`` bind ``NAME`` to ``field``;
* the CF notebooks' spec mapping (``lmrec.cf.notebook.SPEC_PARAMS`` / ``TRAIN_PARAMS``, a backbone's ``Params``
  fields upper-cased) and the few positional hand-overs listed in ``HANDED_ON``.

A library default is a dataclass field's default (or default factory) or a keyword's default in a class's
``__init__``; a field without one states nothing and never fails.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from functools import cache
from typing import Any

import nbformat
import pytest

import lmrec
from lmrec.defaults import notebook_defaults
from lmrec.paths import notebooks_dir, params_dir
from lmrec.run.plan import load_params

# values handed on positionally or through a dict, which the call scan cannot see: notebook name -> class.field
HANDED_ON = {
    "EMBED_DIM": "lmrec.cf.backbone:BackboneConfig.dim",
    "LAYERS": "lmrec.cf.backbone:BackboneConfig.layers",
    "KD_WEIGHT": "lmrec.cf.alignment:ContrastiveAlignment.kd_weight",
    "KD_TEMPERATURE": "lmrec.cf.alignment:ContrastiveAlignment.kd_temperature",
    "MASK_RATIO": "lmrec.cf.alignment:GenerativeAlignment.mask_ratio",
    "RECON_WEIGHT": "lmrec.cf.alignment:GenerativeAlignment.recon_weight",
    "RE_TEMPERATURE": "lmrec.cf.alignment:GenerativeAlignment.re_temperature",
}
HANDED_ON_NOTEBOOKS = ("10_gccf", "11_lightgcn", "12_sgl", "13_simgcl", "14_dccf", "15_autocf")
# what a run is, not how a model learns: seeds, device, folders (params/default sets these for the whole job)
RUN_CONTROL = {"SEED", "SPLIT_SEED", "PRETRAIN_SEED", "DEVICE", "RUN_DIR"}
NOTEBOOKS = sorted(p.stem for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


@cache
def _classes() -> dict[str, list[type]]:
    """Every class defined in lmrec, by name (a name may exist in two modules)."""
    out: dict[str, list[type]] = {}
    for info in pkgutil.walk_packages(lmrec.__path__, "lmrec."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == info.name:
                out.setdefault(name, []).append(obj)
    return out



def _bound_name(value: ast.expr) -> tuple[str, bool] | None:
    """``NAME`` / ``params["NAME"]`` / either ``or None``: (NAME, whether a falsy value means None)."""
    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or) and len(value.values) == 2 \
            and isinstance(value.values[1], ast.Constant) and value.values[1].value is None:
        inner = _bound_name(value.values[0])
        return (inner[0], True) if inner else None
    if isinstance(value, ast.Name) and value.id.isupper():
        return value.id, False
    if isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Constant) and isinstance(value.slice.value, str) \
            and value.slice.value.isupper():
        return value.slice.value, False
    return None


def _calls(source: str) -> Iterator[tuple[str, str, str, bool]]:
    """(class name, keyword, NAME, falsy means None) of every ``Class(keyword=NAME...)`` call in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if func not in _classes():
            continue
        for kw in node.keywords:
            bound = _bound_name(kw.value) if kw.arg else None
            if bound:
                yield func, kw.arg, *bound


def _code(notebook: str) -> str:
    nb = nbformat.read(notebooks_dir() / f"{notebook}.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    return "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def _imported_modules(code: str) -> list[str]:
    mods = []
    for line in code.splitlines():
        if line.startswith("from lmrec.") and " import " in line:
            mods.append(line.split()[1])
    return mods


def _default(cls: type, name: str) -> tuple[bool, Any]:
    """(has a default, the default) of ``cls``'s field or ``__init__`` keyword ``name``."""
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name == name:
                if f.default is not dataclasses.MISSING:
                    return True, f.default
                if f.default_factory is not dataclasses.MISSING:
                    return True, f.default_factory()
                return False, None
        return False, None
    param = inspect.signature(cls.__init__).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        return False, None
    return True, param.default


def _resolve(target: str) -> tuple[type, str]:
    module, rest = target.split(":")
    cls, name = rest.split(".")
    return getattr(importlib.import_module(module), cls), name


def bindings(notebook: str) -> list[tuple[str, type, str, bool]]:
    """(NAME, class, field, falsy means None) for every parameter of ``notebook`` that lands in a library default."""
    code = _code(notebook)
    sources = [code]
    packages = sorted({".".join(mod.split(".")[:2]) for mod in _imported_modules(code)})
    for pkg in packages:  # the method packages the notebook imports, every module of each
        names = [pkg] + [i.name for i in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + ".")] \
            if hasattr(importlib.import_module(pkg), "__path__") else [pkg]
        for name in names:
            try:
                sources.append(inspect.getsource(importlib.import_module(name)))
            except (ImportError, OSError, TypeError):
                continue
    out = []
    for source in sources:
        for cls_name, kw, name, falsy_none in _calls(source):
            out += [(name, cls, kw, falsy_none) for cls in _classes()[cls_name]]
    if "CFSpec.from_params" in code or notebook in HANDED_ON_NOTEBOOKS:
        from lmrec.cf.notebook import SPEC_PARAMS, TRAIN_PARAMS, CFSpec
        from lmrec.cf.registry import NOTEBOOKS as CF_NOTEBOOKS
        from lmrec.cf.registry import backbone_class
        from lmrec.cf.trainer import CFTrainConfig

        out += [(k, CFSpec, v, False) for k, v in SPEC_PARAMS.items()]
        out += [(k, CFTrainConfig, v, k == "TIME_LIMIT_S") for k, v in TRAIN_PARAMS.items()]
        backbone = {nb: b for b, nb in CF_NOTEBOOKS.items()}.get(notebook)
        if backbone:
            params = backbone_class(backbone).Params
            out += [(f.name.upper(), params, f.name, False) for f in dataclasses.fields(params)]
    if notebook in HANDED_ON_NOTEBOOKS or "BackboneConfig" in "".join(sources):
        out += [(k, *_resolve(v), False) for k, v in HANDED_ON.items()]
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b if isinstance(a, str) or isinstance(b, str) else a == b


def disagreements(notebook: str, defaults: dict[str, Any] | None = None) -> list[str]:
    """Every library default that states another value than ``notebook``'s parameters cell."""
    defaults = notebook_defaults(notebook) if defaults is None else defaults
    out = set()
    for name, cls, field, falsy_none in bindings(notebook):
        if name not in defaults:
            continue
        has, lib_value = _default(cls, field)
        nb_value = defaults[name]
        nb_value = None if falsy_none and not nb_value else nb_value
        if has and not _same(lib_value, nb_value):
            out.add(f"{notebook}: {name} = {nb_value!r} in the parameters cell but {cls.__module__}.{cls.__name__}."
                    f"{field} defaults to {lib_value!r}: keep the default in the notebook only (a field without "
                    f"default, filled from the parameters) or make both the same")
    return sorted(out)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_library_defaults_agree_with_the_parameters_cell(notebook):
    assert not disagreements(notebook), "\n".join(disagreements(notebook))


def test_the_scan_finds_the_bindings_of_each_kind(monkeypatch):
    """The bindings come from every source this test reads, so a planted second default of each kind is caught."""
    from lmrec.cf.trainer import CFTrainConfig

    cf = {(n, c.__name__, f) for n, c, f, _ in bindings("11_lightgcn")}
    assert {("LR", "CFTrainConfig", "lr"), ("LAYERS", "CFSpec", "layers"), ("LAYERS", "BackboneConfig", "layers"),
            ("KEEP_RATE", "LightGCNParams", "keep_rate"), ("KD_WEIGHT", "ContrastiveAlignment", "kd_weight")} <= cf
    assert ("LR", "RecformerTrainConfig") in {(n, c.__name__) for n, c, _, _ in bindings("31_recformer_finetune")}
    assert ("EPOCHS", "LearnTrainConfig") in {(n, c.__name__) for n, c, _, _ in bindings("41_learn_finetune")}
    assert ("FT_EPOCHS", "FinetuneConfig") in {(n, c.__name__) for n, c, _, _ in bindings("51_cllm4rec_finetune")}
    assert not disagreements("11_lightgcn")
    # a planted second default: CFTrainConfig.lr = 1e-3 (what it said before) against notebook 11's LR
    monkeypatch.setattr(CFTrainConfig.__dataclass_fields__["lr"], "default", 1e-3)
    found = disagreements("11_lightgcn")
    assert len(found) == 1 and "LR = 0.005" in found[0] and "CFTrainConfig.lr defaults to 0.001" in found[0]
    # a planted disagreement in the cell itself (LightGCNParams.keep_rate is 0.8)
    cell = notebook_defaults("11_lightgcn") | {"KEEP_RATE": 0.5}
    assert any("KEEP_RATE" in d for d in disagreements("11_lightgcn", cell))


def _main_job_values() -> dict[str, dict[str, Any]]:
    params = load_params([params_dir() / "default"])
    out: dict[str, dict[str, Any]] = {}
    for nb in NOTEBOOKS:
        values = {k: v for k, v in params.get("globals", {}).items()} | dict(params.get("notebooks", {}).get(nb) or {})
        out[nb] = values
    return out


def restated(values: dict[str, dict[str, Any]]) -> list[str]:
    """params/default values (globals, notebooks) that state a notebook's default again with another value."""
    out = []
    for nb, given in values.items():
        cell = notebook_defaults(nb)
        for name, value in given.items():
            if name in cell and name not in RUN_CONTROL and not _same(value, cell[name]):
                out.append(f"params/default sets {nb}: {name} = {value!r} but its parameters cell says {cell[name]!r}: "
                           "the cell holds the main job's values; change it there and drop the line")
    return out


def test_params_default_restates_no_notebook_default_with_another_value():
    values = _main_job_values()
    assert not restated(values), "\n".join(restated(values))
    planted = {nb: dict(v) for nb, v in values.items()} | {"11_lightgcn": {"LR": 1e-3}}
    assert restated(planted) and "LR" in restated(planted)[0]
