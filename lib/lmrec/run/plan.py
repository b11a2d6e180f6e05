"""Run plans: which notebooks run with which parameters.

Parameter sets are YAML files (or folders of them, merged in file-name order) with three sections:
``globals`` (values for every notebook that declares the name), ``notebooks`` (per-notebook values) and
``grid`` (per notebook: a mapping of lists -> one run per combination, or a list of mappings -> one run
each), and ``seeds`` (``SEEDS``: a list of seeds, ``notebooks``: names/globs whose runs repeat once per seed;
the report shows the mean and a 95 % interval over them; a grid entry may carry its own ``SEEDS`` list).
Names a notebook does not declare in its
``parameters`` cell are rejected (papermill only warns); each value must have the type of the parameter's
default (an int where the default is ``24``, a list where it is ``[5, 10, 20]``), checked before any
kernel starts, as are rules between parameters (a ``<format>:<folder>`` DATASET comes pre-split: SPLIT must
be ``given``) and a ``<format>:<folder>`` DATASET's folder (it must exist and hold the format's files).
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..defaults import literal_defaults
from ..paths import notebooks_dir
from ..utils import stable_hash

RESERVED = ("RUN_DIR",)
# Parameters that bound how long a run may take, not what it computes: left out of a run's identity (folder
# name), so a run capped by one budget is resumed, not restarted, under another (TIME_LIMIT_S=0: none).
BUDGET = ("TIME_LIMIT_S",)


def without_budget(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` less the :data:`BUDGET` names: what a run computes, which names its folder and decides whether a
    finished run is still current."""
    return {k: v for k, v in params.items() if k not in BUDGET}

SECTIONS = ("globals", "notebooks", "grid", "always", "html", "seeds")
MAX_LABEL = 100


class PlanError(ValueError):
    """A parameter file or plan is invalid; the message says which file/name and what is allowed."""


@dataclass
class PlannedRun:
    notebook: str
    path: Path
    params: dict[str, Any]
    label: str
    always: bool = False
    html: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)  # the parameters cell's defaults (source text)
    reads: tuple[str, ...] = ()  # notebooks whose products this one reads (notebook metadata lmrec.reads)
    default_values: dict[str, Any] = field(default_factory=dict, repr=False)  # the same defaults as Python values
    key: str = field(init=False)

    def __post_init__(self) -> None:
        # the notebook's defaults are part of a run's identity: editing one re-runs the notebook
        self.key = stable_hash({"notebook": self.notebook, "params": without_budget(self.params),
                                "defaults": self.defaults}, 10)

    @property
    def name(self) -> str:
        return f"{self.notebook}/{self.label}-{self.key}" if self.label else f"{self.notebook}/{self.key}"

    @property
    def values(self) -> dict[str, Any]:
        """Every value the run's kernel gets: the parameters cell's defaults (as Python values, read by
        :func:`lmrec.defaults.literal_defaults`) overlaid by the plan's values; ``RUN_DIR`` left out."""
        return {k: v for k, v in {**self.default_values, **self.params}.items() if k not in RESERVED}


def deep_merge(base: dict, extra: dict) -> dict:
    """Recursively merge ``extra`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2 floats: ``1e-3`` is a float (PyYAML's 1.1 rules read it as the string '1e-3')."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789."))


def parse_yaml(text: str) -> Any:
    """A YAML document or a ``--set`` value, with ``1e-3`` read as a float."""
    return yaml.load(text, Loader=_Loader)


def load_params(sources: list[str | Path]) -> dict:
    """Merge YAML parameter files/folders in the order given (a folder: its ``*.yaml`` in name order)."""
    merged: dict = {}
    for source in sources:
        source = Path(source)
        if source.is_dir():
            files = sorted(source.glob("*.yaml")) + sorted(source.glob("*.yml"))
        elif source.exists():
            files = [source]
        else:
            raise PlanError(f"parameter file or folder {source} does not exist")
        for file in files:
            try:
                data = parse_yaml(file.read_text()) or {}
            except yaml.YAMLError as err:
                raise PlanError(f"{file}: not valid YAML: {err}") from err
            if not isinstance(data, dict):
                raise PlanError(f"{file}: top level must be a mapping with sections {SECTIONS}")
            unknown = set(data) - set(SECTIONS)
            if unknown:
                raise PlanError(f"{file}: unknown section(s) {sorted(unknown)}; allowed: {SECTIONS}")
            merged = deep_merge(merged, data)
    return merged


def find_notebooks(folder: Path | None = None) -> dict[str, Path]:
    """Numbered notebooks ``NN_name.ipynb`` in order."""
    folder = folder or notebooks_dir()
    return {p.stem: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Names and defaults declared in a notebook's ``parameters`` cell."""
    import ast
    import contextlib
    import io

    import nbformat
    import papermill as pm

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise PlanError(f"{path}: no cell tagged 'parameters'")
    assigned = [t.id for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        declared = pm.inspect_notebook(str(path))
    lost = [n for n in assigned if n not in declared]
    if lost:
        raise PlanError(f"{path}: papermill cannot parse the parameters line(s) of {lost}; "
                        "write `NAME = literal  # comment` with no '=' or ';' inside the comment")
    return {name: info.get("default") for name, info in declared.items()}


def _type_name(value: Any) -> str:
    return {bool: "a bool", int: "an int", float: "a float", str: "a string", list: "a list", dict: "a mapping",
            tuple: "a list", type(None): "null"}.get(type(value), type(value).__name__)


def check_types(values: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
    """Each value has its default's type (an int is a fine float; None as a default accepts anything)."""
    for name, value in values.items():
        if name not in defaults or defaults[name] is None:
            continue
        want = defaults[name]
        ok = (isinstance(value, bool) if isinstance(want, bool) else
              isinstance(value, int) and not isinstance(value, bool) if isinstance(want, int) else
              isinstance(value, (int, float)) and not isinstance(value, bool) if isinstance(want, float) else
              isinstance(value, (list, tuple)) if isinstance(want, (list, tuple)) else
              isinstance(value, type(want)))
        if not ok:
            raise PlanError(f"{where}: {name}={value!r} is {_type_name(value)}, but the parameters cell says "
                            f"{name} = {want!r} ({_type_name(want)}); give {_type_name(want)}")


def check_rules(values: dict[str, Any], where: str) -> None:
    """Rules between parameters that the notebooks would otherwise only find out in their kernel."""
    dataset, split = values.get("DATASET"), values.get("SPLIT")
    if isinstance(dataset, str) and ":" in dataset and split is not None and split != "given":
        raise PlanError(f"{where}: DATASET={dataset!r} is a '<format>:<folder>' dataset that comes pre-split; "
                        f"set SPLIT='given' (got SPLIT={split!r})")
    if dataset == "ml100k" and split == "given":
        raise PlanError(f"{where}: SPLIT='given' needs a '<format>:<folder>' DATASET; ml100k is split by "
                        "rlmrec | user_80_10_10 | loo_time")
    if isinstance(dataset, str) and ":" in dataset:
        check_dataset_folder(dataset, where)


def check_dataset_folder(dataset: str, where: str) -> None:
    """A ``<format>:<folder>`` DATASET names a known format and a folder holding that format's files (the
    loader's own checks and messages, nothing read): refused here once, not in every kernel of the plan."""
    from ..data.loaders import check_dataset

    try:
        check_dataset(dataset, "given")
    except ValueError as err:  # DatasetFormatError too
        raise PlanError(f"{where}: DATASET={dataset!r}: {err}") from err


def notebook_reads(path: Path) -> tuple[str, ...]:
    """The upstream notebooks a notebook declares in its metadata (``{"lmrec": {"reads": [...]}}``): a
    finished run of it is stale once one of them has a newer finished run."""
    import nbformat

    reads = nbformat.read(path, as_version=4).metadata.get("lmrec", {}).get("reads", [])
    if not isinstance(reads, list) or not all(isinstance(r, str) for r in reads):
        raise PlanError(f"{path}: metadata lmrec.reads must be a list of notebook names, got {reads!r}")
    return tuple(reads)


def select(notebooks: dict[str, Path], patterns: list[str]) -> list[str]:
    """Notebook names matching the patterns (a full name, a number prefix like ``10`` or a glob)."""
    if not patterns:
        return list(notebooks)
    chosen: list[str] = []
    for pat in patterns:
        pat = Path(pat).stem if pat.endswith(".ipynb") else pat
        hits = [n for n in notebooks if n == pat or n.startswith(pat + "_") or fnmatch.fnmatch(n, pat)]
        if not hits:
            raise PlanError(f"no notebook matches {pat!r}; notebooks: {', '.join(notebooks)}")
        chosen += [h for h in hits if h not in chosen]
    return [n for n in notebooks if n in chosen]


def _grid_runs(spec: Any, notebook: str) -> list[dict[str, Any]]:
    if spec is None:
        return [{}]
    if isinstance(spec, list):
        if not all(isinstance(s, dict) for s in spec):
            raise PlanError(f"grid.{notebook}: a list must hold mappings (one run each)")
        return [dict(s) for s in spec]
    if isinstance(spec, dict):
        keys = list(spec)
        values = [v if isinstance(v, list) else [v] for v in spec.values()]
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    raise PlanError(f"grid.{notebook}: expected a mapping of lists or a list of mappings")


def _check_names(names: list[str], declared: dict[str, Any], where: str) -> None:
    unknown = [n for n in names if n not in declared or n in RESERVED]
    if unknown:
        valid = ", ".join(n for n in declared if n not in RESERVED)
        raise PlanError(f"{where}: unknown parameter(s) {unknown}; valid names: {valid}")


def build_plan(patterns: list[str], params: dict, overrides: dict[str, Any] | None = None,
               notebooks: dict[str, Path] | None = None) -> list[PlannedRun]:
    """Expand the selected notebooks with globals, per-notebook values, grids and ``--set`` overrides."""
    notebooks = notebooks or find_notebooks()
    chosen = select(notebooks, patterns)
    declared = {}
    for name, path in notebooks.items():
        try:
            declared[name] = notebook_parameters(path)
        except PlanError:
            if name in chosen:
                raise
            declared[name] = {}  # a broken notebook outside the selection does not block the others
    for section in ("notebooks", "grid"):
        for nb in params.get(section, {}) or {}:
            if nb not in notebooks:
                raise PlanError(f"{section}.{nb}: no such notebook; notebooks: {', '.join(notebooks)}")
    globals_ = params.get("globals", {}) or {}
    every_name = set().union(*declared.values()) if declared else set()
    stray = [g for g in globals_ if g not in every_name]
    if stray:
        raise PlanError(f"globals: {stray} declared by no notebook; valid names: {', '.join(sorted(every_name - set(RESERVED)))}")
    overrides = overrides or {}
    runs: list[PlannedRun] = []
    always = set(params.get("always", []) or [])
    html = set(params.get("html", []) or [])
    seeds, seeded = _seeds(params.get("seeds"), notebooks)
    for nb in chosen:
        decl = declared[nb]
        typed = _literal_defaults_or_empty(notebooks[nb])
        reads = notebook_reads(notebooks[nb])
        unknown_reads = [r for r in reads if r not in notebooks]
        if unknown_reads:
            raise PlanError(f"{notebooks[nb]}: metadata lmrec.reads names unknown notebook(s) {unknown_reads}")
        specific = (params.get("notebooks", {}) or {}).get(nb, {}) or {}
        _check_names(list(specific), decl, f"notebooks.{nb}")
        grid = _grid_runs((params.get("grid", {}) or {}).get(nb), nb)
        entry_seeds = [_entry_seeds(combo.pop("SEEDS", None), nb) for combo in grid]
        for combo in grid:
            _check_names(list(combo), decl, f"grid.{nb}")
        nb_overrides = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith(nb + ".")}
        plain = {k: v for k, v in overrides.items() if "." not in k and k in decl}
        _check_names(list(nb_overrides), decl, f"--set for {nb}")
        check_types({k: v for k, v in globals_.items() if k in decl}, typed, f"globals (for {nb})")
        check_types(specific, typed, f"notebooks.{nb}")
        check_types({**plain, **nb_overrides}, typed, f"--set for {nb}")
        free = "SEED" in decl and "SEED" not in plain and "SEED" not in nb_overrides  # --set SEED=... wins
        for combo, own_seeds in zip(grid, entry_seeds):
            check_types(combo, typed, f"grid.{nb}")
            nb_seeds = (own_seeds if own_seeds is not None else seeds if nb in seeded else [None]) if free else [None]
            for seed in nb_seeds:
                values = {k: v for k, v in globals_.items() if k in decl}
                values.update(specific)
                values.update(combo)
                if seed is not None:
                    values["SEED"] = seed
                values.update(plain)
                values.update(nb_overrides)
                check_rules({**{k: v for k, v in typed.items() if k in ("DATASET", "SPLIT")}, **values},
                            f"{nb}")
                varied = list(dict.fromkeys((["SEED"] if seed is not None else []) + [*combo, *plain, *nb_overrides]))
                label = _label(without_budget({k: values[k] for k in varied if k in values}))
                defaults = {k: v for k, v in decl.items() if k not in RESERVED}
                runs.append(PlannedRun(nb, notebooks[nb], values, label, nb in always, nb in html, defaults, reads,
                                       {k: v for k, v in typed.items() if k in defaults}))
    unused = [k for k in overrides if "." not in k and not any(k in declared[n] for n in chosen)]
    if unused:
        raise PlanError(f"--set: {unused} declared by none of the selected notebooks")
    return runs


def _literal_defaults_or_empty(path: Path) -> dict[str, Any]:
    try:
        return literal_defaults(path)
    except (SyntaxError, OSError):
        return {}


def _seeds(spec: Any, notebooks: dict[str, Path]) -> tuple[list[int], set[str]]:
    """The ``seeds`` section: ``{SEEDS: [..], notebooks: [names or globs]}`` -> (seeds, notebook names)."""
    if not spec:
        return [], set()
    if not isinstance(spec, dict) or set(spec) - {"SEEDS", "notebooks"}:
        raise PlanError(f"seeds: expected a mapping with SEEDS (a list of ints) and notebooks (names or globs), got {spec!r}")
    values = spec.get("SEEDS") or []
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise PlanError(f"seeds.SEEDS: expected a list of ints, got {values!r}")
    if len(set(values)) != len(values):
        raise PlanError(f"seeds.SEEDS: {values} repeats a seed")
    patterns = spec.get("notebooks") or []
    if not isinstance(patterns, list):
        raise PlanError(f"seeds.notebooks: expected a list of notebook names or globs, got {patterns!r}")
    return values, set(select(notebooks, [str(p) for p in patterns])) if patterns and values else set()


def _entry_seeds(value: Any, notebook: str) -> list[int] | None:
    """A grid entry's own ``SEEDS`` list (it repeats only that entry once per seed)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise PlanError(f"grid.{notebook}: SEEDS must be a non-empty list of ints, got {value!r}")
    return value


def _label(values: dict[str, Any]) -> str:
    """``name=value-...`` from the final values that vary; whole parts only, at most :data:`MAX_LABEL` characters
    (the run key tells runs apart)."""
    parts = [f"{k.lower()}={_slug(_label_value(v))}" for k, v in values.items()]
    label = ""
    for part in parts:
        candidate = f"{label}-{part}" if label else part
        if len(candidate) <= MAX_LABEL:
            label = candidate
    return label


def _label_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    text = str(value)
    if re.match(r"^\w+:(?!//)", text) and ("/" in text or "\\" in text):  # '<format>:<folder>': format, folder name
        fmt, folder = text.split(":", 1)
        text = f"{fmt}-{Path(folder.rstrip('/')).name}"
    return text


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in text)
