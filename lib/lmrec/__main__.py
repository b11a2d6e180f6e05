"""Command line: ``python -m lmrec run|plan|report-html``."""

from __future__ import annotations

import argparse
import sys

import yaml

from .paths import params_dir


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set {item!r}: expected NAME=VALUE or NOTEBOOK.NAME=VALUE")
        key, value = item.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "execute notebooks with papermill"), ("plan", "print the runs a command would make")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("notebooks", nargs="*", help="names, number prefixes (10) or globs (1*); default: all")
        p.add_argument("--params", "-p", action="append", default=[],
                       help="YAML file or folder, repeatable, merged in order (default: params/default)")
        p.add_argument("--set", "-s", action="append", default=[], metavar="[NB.]NAME=VALUE",
                       help="override one parameter (YAML literal)")
        if name == "run":
            p.add_argument("--force", action="store_true", help="re-run finished runs")
            p.add_argument("--stop-on-failure", action="store_true", help="stop at the first failed run")
            p.add_argument("--kernel", default="lmrec", help="Jupyter kernel name (default: lmrec)")
    args = parser.parse_args(argv)

    from .run.plan import PlanError, build_plan, load_params

    try:
        params = load_params(args.params or [params_dir() / "default"])
        plan = build_plan(args.notebooks, params, _parse_set(args.set))
    except PlanError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "plan":
        for run in plan:
            print(f"{run.name}  {run.params}")
        return 0
    from .run.runner import run_plan

    outcomes = run_plan(plan, force=args.force, keep_going=not args.stop_on_failure, kernel=args.kernel)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
