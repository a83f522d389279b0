"""Before/after, interleaved rounds: the default run's step, and N-member ensembles of several
rules, each in a fresh interpreter of either source tree, the trees alternating every round so
that a slow spell of a shared machine hits both alike.

Usage: python benchmarks/bench_ab.py --before DIR [--after DIR] [--rounds R] [--methods a,b]
``DIR`` is a checkout of gantrain (e.g. ``git worktree add /tmp/before <commit>``).

- step: milliseconds per ``rule.train_step`` of the default run (``bench_engine.step_ms``),
  median of ``--rounds`` rounds;
- ensemble: member-steps per second of 16 members of each of ``--methods``
  (``benchmarks/bench_ensemble.py`` of that tree, 6 steps), median of ``--ensemble-rounds``.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from bench_engine import HERE, _env, step_ms


def ensemble_rates(tree: Path, methods: str, size: int) -> dict[str, float]:
    """Each method's member-steps per second at ``size`` members (bench_ensemble of ``tree``)."""
    out = subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_ensemble.py"),
                          "--methods", methods, "--sizes", str(size), "--steps", "6",
                          "--rounds", "1"], env=_env(tree), cwd=tree, capture_output=True,
                         text=True, check=True)
    rates = {}
    for line in out.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0] in methods.split(","):
            rates[cells[0]] = float(cells[2].split()[0])
    return rates


def interleaved(trees: dict[str, Path], rounds: int, measure) -> dict[str, list]:
    """``measure(tree)`` for each tree, ``rounds`` times, the order flipping every round."""
    got: dict[str, list] = {k: [] for k in trees}
    for r in range(rounds):
        for k in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
            got[k].append(measure(trees[k]))
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=HERE)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--ensemble-rounds", type=int, default=2)
    ap.add_argument("--methods", default="simgd,conopt,jare,sga,r1,gradnorm")
    ap.add_argument("--size", type=int, default=16)
    a = ap.parse_args()
    trees = {"before": a.before, "after": a.after}
    steps = interleaved(trees, a.rounds, lambda t: step_ms(t, []))
    print(f"{platform.machine()}; before = {a.before}, after = {a.after}")
    for k, v in steps.items():
        print(f"default run step, {k}: median {statistics.median(v):.2f} ms "
              f"(rounds: {', '.join(f'{x:.2f}' for x in v)})")
    print(f"after / before: {statistics.median(steps['after']) / statistics.median(steps['before']):.3f}")
    rates = interleaved(trees, a.ensemble_rounds, lambda t: ensemble_rates(t, a.methods, a.size))
    print(f"\n| rule, {a.size} members (member-steps/s) | before | after | after / before |")
    print("|---|---:|---:|---:|")
    for m in a.methods.split(","):
        b = statistics.median(r[m] for r in rates["before"])
        f = statistics.median(r[m] for r in rates["after"])
        print(f"| {m} | {b:.1f} | {f:.1f} | {f / b:.2f} |")


if __name__ == "__main__":
    main()
