#!/usr/bin/env python3
"""Mutation testing: does the test suite catch realistic bugs?

Each mutant is one planted bug: an exact snippet of a source file replaced by a wrong one. For
each, the working tree (tracked and untracked, non-ignored files) is copied to a temporary folder,
the bug is planted there, and the suite runs in the copy with this repository's .venv, the copy
first on PYTHONPATH (checked: ``gantrain`` and ``tests`` must import from the copy, never from the
editable install of this tree). A mutant is *caught* when a test fails, *survives* when all pass.

    make mutants                                   # every mutant against the whole suite
    .venv/bin/python scripts/mutants.py --quick    # only the test files named per mutant
    .venv/bin/python scripts/mutants.py --list     # the mutants, and whether each still applies
    .venv/bin/python scripts/mutants.py --only jare-own-block --only tf-rmsprop-zero-start
    .venv/bin/python scripts/mutants.py --only jare-own-block --tests "tests/rules -k jare"

Exit status: 0 when every mutant is caught; 1 when one survives (or the unmutated baseline fails,
or a mutant no longer applies); 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutant_list import MUTANTS, Mutant  # noqa: E402 - beside this script

REPO = Path(__file__).resolve().parent.parent
EXCLUDE = {".git", ".venv", "outputs", "multirun", "wandb", "__pycache__", ".pytest_cache"}


def tree_files(root: Path) -> list[Path]:
    """Tracked and untracked, non-ignored files (git), else every file outside EXCLUDE."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root,
                             capture_output=True, check=True).stdout.decode()
        files = [Path(p) for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(root) for p in root.rglob("*")
                 if p.is_file() and not EXCLUDE & set(p.relative_to(root).parts)]
    return [p for p in files if (root / p).is_file() and not EXCLUDE & set(p.parts)]


def copy_tree(root: Path, dest: Path) -> None:
    for rel in tree_files(root):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)


def plant(m: Mutant, root: Path) -> None:
    path = root / m.file
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutant {m.name}: the snippet {m.old!r} occurs {n} times in {m.file} "
                         "(must be exactly once): update the mutant")
    path.write_text(text.replace(m.old, m.new))


def copy_env(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(copy), WANDB_MODE="disabled", OMP_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def check_imports_from(copy: Path, python: str, env: dict[str, str]) -> None:
    """gantrain, its config folder and the tests package must come from the copy (not from the
    editable install of the original tree), or the planted bug would never run."""
    probe = ("import gantrain, gantrain.cli, tests.helpers; "
             "print(gantrain.__file__); print(gantrain.cli.CONFIG_DIR); print(tests.helpers.__file__)")
    out = subprocess.run([python, "-c", probe], cwd=copy, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"importing gantrain in the copy failed:\n{out.stderr}")
    real = copy.resolve()
    for line in out.stdout.split():
        if not Path(line).resolve().is_relative_to(real):
            raise SystemExit(f"the copy imports {line}, outside the copy {real}: PYTHONPATH does "
                             "not take precedence over the installed gantrain")


def run_tests(copy: Path, python: str, args: list[str], jobs: int, timeout: float):
    env = copy_env(copy)
    check_imports_from(copy, python, env)
    cmd = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", f"--rootdir={copy}",
           *(["-n", str(jobs)] if jobs > 1 else []), *args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0, ""
    return proc.returncode, time.monotonic() - t0, proc.stdout + proc.stderr


def first_failure(output: str) -> str:
    for line in output.splitlines():
        m = re.match(r"(FAILED|ERROR) (\S+)", line)
        if m:
            return m.group(2)
    return "?"


def run_mutant(m: Mutant | None, python: str, args: list[str], jobs: int, timeout: float,
               verbose: bool) -> tuple[str, str, float]:
    """(outcome, caught by, seconds): outcome is caught, survived, timeout or error."""
    with tempfile.TemporaryDirectory(prefix=f"gantrain-mutant-{m.name if m else 'baseline'}-") as d:
        copy = Path(d)
        copy_tree(REPO, copy)
        if m is not None:
            plant(m, copy)
        code, secs, out = run_tests(copy, python, args, jobs, timeout)
    if verbose or (code not in (0, 1, "timeout") and first_failure(out) == "?"):
        print(out[-4000:])
    if code == "timeout":
        return "timeout", f"(timeout after {timeout:.0f} s)", secs
    if code == 0:
        return "survived", "", secs
    # pytest-xdist ends a -x run that hit a failure with exit 2 ("Interrupted"), not 1.
    if code == 1 or (code == 2 and first_failure(out) != "?"):
        return "caught", first_failure(out), secs
    return "error", f"(pytest exit {code})", secs


def markdown_table(rows: list[tuple[Mutant, str, str]]) -> str:
    lines = ["| mutant | file | planted bug | caught by |", "|---|---|---|---|"]
    for m, outcome, by in rows:
        cell = f"`{by}`" if outcome == "caught" else f"**{outcome.upper()}** {by}".strip()
        why = m.why.replace("|", "\\|")   # a pipe would end the cell
        lines.append(f"| `{m.name}` | `{m.file}` | {why} | {cell} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The command line of this script."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutants and whether each applies")
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    ap.add_argument("--quick", action="store_true", help="run only the tests named per mutant")
    ap.add_argument("--tests", metavar="ARGS", type=shlex.split,
                    help="pytest arguments for every mutant instead, one string "
                         "(e.g. \"tests/rules -k 'jare and not jare_d'\")")
    ap.add_argument("--jobs", "-n", type=int, default=2, help="pytest-xdist workers (default 2; 1: none)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per test run (default 3600)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the unmutated run (which must pass, or every mutant looks caught)")
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                    help="the interpreter whose environment runs the tests (default .venv)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print pytest's output")
    return ap


def list_mutants(chosen: list[Mutant]) -> int:
    """Print each mutant and whether its snippet still occurs exactly once; 1 if one does not."""
    stale = 0
    for m in chosen:
        n = (REPO / m.file).read_text().count(m.old) if (REPO / m.file).is_file() else 0
        stale += n != 1
        state = "ok" if n == 1 else f"STALE (snippet found {n} times)"
        print(f"{m.name:34s} {m.file:34s} {state}\n    {m.why}\n    quick: {' '.join(m.tests)}")
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)

    by_name = {m.name: m for m in MUTANTS}
    unknown = [n for n in a.only or [] if n not in by_name]
    if unknown:
        ap.error(f"--only {unknown[0]!r} is not a mutant; allowed: {', '.join(by_name)}")
    chosen = [by_name[n] for n in a.only] if a.only else MUTANTS
    if a.list:
        return list_mutants(chosen)
    if not Path(a.python).is_file():
        ap.error(f"--python {a.python} does not exist; run `make install` first")
    for m in chosen:   # every snippet must apply before anything runs
        plant_check = (REPO / m.file).read_text().count(m.old)
        if plant_check != 1:
            print(f"mutant {m.name}: the snippet {m.old!r} occurs {plant_check} times in {m.file} "
                  "(must be exactly once)", file=sys.stderr)
            return 1

    def args_for(m: Mutant | None) -> list[str]:
        if a.tests:
            return list(a.tests)
        if a.quick and m is not None:
            return list(m.tests)
        if a.quick:   # baseline: every file the chosen mutants name (no -k: those are per mutant)
            files = sorted({t for mm in chosen for t in mm.tests if t.startswith("tests/")})
            return files
        return []

    if not a.no_baseline:
        outcome, by, secs = run_mutant(None, a.python, args_for(None), a.jobs, a.timeout, a.verbose)
        print(f"baseline (no mutant): {'passes' if outcome == 'survived' else 'FAILS ' + by} "
              f"({secs:.0f} s)", flush=True)
        if outcome != "survived":
            print("the unmutated tests must pass first", file=sys.stderr)
            return 1
    rows = []
    for m in chosen:
        outcome, by, secs = run_mutant(m, a.python, args_for(m), a.jobs, a.timeout, a.verbose)
        rows.append((m, outcome, by))
        print(f"{m.name:34s} {outcome:8s} {by} ({secs:.0f} s)", flush=True)
    print()
    print(markdown_table(rows))
    survived = [m.name for m, outcome, _ in rows if outcome not in ("caught", "timeout")]
    print(f"\n{len(rows) - len(survived)}/{len(rows)} caught"
          + (f"; not caught: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
