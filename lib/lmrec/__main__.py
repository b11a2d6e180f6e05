"""The lmrec command line: run the notebooks, check a plan, rebuild the report.

examples:
  python -m lmrec plan --params params/smoke            what would run (parameters checked, no kernel started)
  python -m lmrec run --params params/default           the main job (finished runs are skipped)
  python -m lmrec run 10_gccf --set EPOCHS=50 --force   one notebook, one parameter overridden, re-run
  python -m lmrec run 1* --set DATASET=rlmrec:../shared/data/rlmrec_yelp --set SPLIT=given
  python -m lmrec report                                rebuild outputs/tables and outputs/report/index.html
                                                        from the runs already in outputs/runs
  python -m lmrec pack                                  generate the LLM products of 01 and 20 at full coverage
                                                        (resumable) and write packs/<name>/ (see lmrec.pack)
  python -m lmrec pack --partial                        save the generation so far as a partial pack (commit
                                                        packs/<name>/: the next `pack` resumes from it)
"""

from __future__ import annotations

import argparse
import sys

from .paths import params_dir
from .run.plan import parse_yaml

REPORT_NOTEBOOK = "90_report"


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set {item!r}: expected NAME=VALUE or NOTEBOOK.NAME=VALUE")
        key, value = item.split("=", 1)
        out[key] = parse_yaml(value)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lmrec", description=__doc__.split("\n\n")[0],
                                     epilog="examples:" + __doc__.split("examples:", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,plan,report,pack}")
    commands = (("run", "execute notebooks with papermill, one run folder each"),
                ("plan", "print the runs a `run` would make, after checking every parameter"),
                ("report", "rebuild the tables and the HTML report from the existing runs (no training)"))
    for name, help_ in commands:
        p = sub.add_parser(name, help=help_, description=help_)
        if name != "report":
            p.add_argument("notebooks", nargs="*", help="names, number prefixes (10) or globs (1*); default: all")
        p.add_argument("--params", "-p", action="append", default=[],
                       help="YAML file or folder, repeatable, merged in order (default: params/default)")
        if name != "report":
            p.add_argument("--set", "-s", action="append", default=[], metavar="[NB.]NAME=VALUE",
                           help="override one parameter (YAML literal)")
        if name != "plan":
            p.add_argument("--kernel", default="lmrec", help="Jupyter kernel name (default: lmrec)")
        if name == "run":
            p.add_argument("--force", action="store_true", help="re-run finished runs")
            p.add_argument("--stop-on-failure", action="store_true", help="stop at the first failed run")
            p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                           help="runs of one notebook executed side by side, the cores shared out (default 1)")
    p = sub.add_parser("pack", help="make the LLM pack (notebooks 01 + 20, params/default + params/pack)",
                       description="make the LLM pack (notebooks 01 + 20, params/default + params/pack)")
    p.add_argument("--params", "-p", action="append", default=[], help="extra YAML overlaid on params/pack")
    p.add_argument("--set", "-s", action="append", default=[], metavar="[NB.]NAME=VALUE")
    p.add_argument("--outputs", default="", help="private outputs root of the generation (default outputs/pack)")
    p.add_argument("--name", default="", help="pack folder name (default: the dataset key; the date is in the "
                   "manifest)")
    p.add_argument("--dest", default="", help="where the pack folder is written, and the packs a generation resumes "
                   "from are looked up (default packs/)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--export-only", action="store_true", help="write the pack from finished runs, generate nothing")
    how.add_argument("--partial", action="store_true",
                     help="write the response cache's entries so far as a partial pack (complete: false, merged with "
                     "the partial pack already there; never imported by notebooks), generate nothing; commit "
                     "packs/<name>/ to carry the progress to the next session")
    p.add_argument("--no-resume", action="store_true", help="do not first import the packs of the same dataset "
                   "under --dest into the generation's cache")
    p.add_argument("--kernel", default="lmrec", help="Jupyter kernel name (default: lmrec)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "pack":
        from .llm.pack import PackError
        from .pack import PACKS_DIR, make_pack

        try:
            folder = make_pack(args.name, args.outputs, args.params, _parse_set(args.set),
                               not (args.export_only or args.partial), args.dest or PACKS_DIR, args.kernel,
                               partial=args.partial, resume=not args.no_resume)
        except PackError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{'partial ' if args.partial else ''}pack written: {folder}"
              + (" (commit it; `make pack` continues from it, notebooks do not import it)" if args.partial else ""))
        return 0

    from .run.plan import PlanError, build_plan, load_params

    try:
        params = load_params(args.params or [params_dir() / "default"])
        if args.command == "report":
            params = {**params, "html": [*(params.get("html") or []), REPORT_NOTEBOOK]}
            plan = build_plan([REPORT_NOTEBOOK], params)
        else:
            plan = build_plan(args.notebooks, params, _parse_set(args.set))
    except PlanError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "plan":
        for run in plan:
            print(f"{run.name}  {run.params}")
        return 0
    from .run.runner import run_plan

    force = args.command == "report" or args.force
    outcomes = run_plan(plan, force=force, keep_going=not getattr(args, "stop_on_failure", False),
                        kernel=args.kernel, jobs=getattr(args, "jobs", 1))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
