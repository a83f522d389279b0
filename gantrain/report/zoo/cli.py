"""``python -m gantrain.report.zoo run|report``: the zoo's command line (``make zoo``)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from gantrain.errors import ConfigError
from gantrain.report import zoo as package
from gantrain.report.zoo.plan import Job, Plan, as_ensembles, load_plan, make_jobs, rule_names
from gantrain.report.zoo.render import build_report
from gantrain.report.zoo.runner import check_first, run_all, write_run_log


def _error(msg: str) -> int:
    print(f"gantrain zoo: error: {msg}", file=sys.stderr)
    return 2


def _csv_arg(text: str | None, allowed: Sequence[str], flag: str) -> list[str]:
    values = [v for v in (text or "").split(",") if v]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ConfigError(f"{flag}={text} is invalid: allowed: comma-separated values among "
                          f"{', '.join(allowed)}")
    return values


def _parser(parts: Sequence[str]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m gantrain.report.zoo",
                                 description=package.__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train every rule on every game and draw the phase diagrams")
    p_run.add_argument("out", type=Path, help="folder for <game>/<method>/seed=<s> and phase/")
    p_run.add_argument("--methods", default=None, help="comma-separated (default: every rule)")
    p_run.add_argument("--parts", default=",".join(parts),
                       help=f"comma-separated, among {', '.join(parts)} (default: all)")
    p_run.add_argument("--seeds", default=None, help="comma-separated integers (default: 0,1,2; "
                                                     "--quick: 0)")
    p_run.add_argument("--quick", action="store_true",
                       help="500/300/200 steps (Gaussian/Dirac/MoG), one seed, a 4×3 phase grid at μ = 6"
                            " (conf/zoo.yaml's quick part)")
    p_run.add_argument("--jobs", type=int, default=2, help="worker processes, one torch thread "
                                                            "each (1: this process)")
    p_run.add_argument("--no-ensemble", action="store_true",
                       help="train every run in its own job (default: the seeds of a (game, rule) "
                            "that launcher=ensemble can train go together, gantrain.ensemble)")
    p_run.add_argument("--phase-args", default="", help="more gantrain-analyze overrides for the "
                                                          "phase diagrams, space-separated")
    p_run.add_argument("overrides", nargs="*", help="more gantrain overrides for every training "
                                                    "run (key=value)")
    p_rep = sub.add_parser("report", help="the zoo report from a folder of its runs")
    p_rep.add_argument("source", type=Path)
    p_rep.add_argument("--out", type=Path, required=True, help="folder for summary.md and figures")
    p_rep.add_argument("--html", action="store_true", help="also write report.html: one "
                                                           "self-contained page")
    return ap


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds={text} is invalid: must be comma-separated integers") from None


def _jobs(args: argparse.Namespace, plan: Plan) -> tuple[list[str], list[Job]]:
    """The rules and the jobs ``run`` asked for; ConfigError (one line) for bad input."""
    known = rule_names()
    methods = known if args.methods is None else _csv_arg(args.methods, known, "--methods")
    parts = _csv_arg(args.parts, plan.parts, "--parts")
    seeds = _seeds(args.seeds)
    if args.jobs < 1:
        raise ConfigError(f"--jobs={args.jobs} is invalid: must be an integer >= 1")
    jobs = make_jobs(plan, args.out, methods, parts, args.overrides, args.phase_args.split(),
                     1 if args.jobs > 1 else 0, seeds)
    check_first(jobs)
    return methods, jobs if args.no_ensemble else as_ensembles(jobs)


def _run(args: argparse.Namespace, plan: Plan) -> int:
    try:
        methods, jobs = _jobs(args, plan)
    except ConfigError as e:
        return _error(str(e))
    print(f"zoo: {len(jobs)} jobs ({sum(j.kind == 'ensemble' for j in jobs)} ensembles; "
          f"{len(methods)} rules: {', '.join(methods)}) under "
          f"{args.out}, {args.jobs} worker(s)", flush=True)
    t0 = time.perf_counter()
    results = run_all(jobs, args.jobs)
    write_run_log(args.out, results, time.perf_counter() - t0, args.jobs, args.quick)
    bad = [r for r in results if r["status"] == "failed"]
    print(f"zoo: {len(results) - len(bad)} of {len(results)} runs and diagrams done"
          + (f"; {len(bad)} failed (recorded; the report shows them)" if bad else ""))
    return 0


def _report(args: argparse.Namespace) -> int:
    if not args.source.is_dir():
        return _error(f"{args.source} is not a directory")
    try:
        result = build_report(args.source, args.out, html=args.html)
    except FileNotFoundError as e:      # nothing was written: an earlier report stays as it was
        return _error(f"{e}; nothing written")
    print(f"read {result['runs']} runs and {result['phases']} phase diagrams under {args.source}")
    for path in result["files"].values():
        print(f"wrote {path}")
    for name, why in result["skipped"].items():
        print(f"not made: {name} ({why})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``run OUT [--quick] [--jobs N] [--methods a,b] [--parts ...] [--seeds ...] [key=value ...]``
    or ``report SOURCE --out OUT``; returns the exit status (2: bad input, refused in one line)."""
    ap = _parser(load_plan().parts)
    # key=value overrides may come after the options too (argparse takes positionals in one run)
    args, rest = ap.parse_known_args(argv)
    if rest and (args.command != "run" or any(a.startswith("-") or "=" not in a for a in rest)):
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        args.overrides = [*args.overrides, *rest]
        return _run(args, load_plan(args.quick))
    return _report(args)
