"""Before/after an engine change, interleaved: the default run's start-up imports, a single run's
step and a 16-member ensemble's throughput, each measured in both source trees in alternating
order, so that a slow spell of a shared machine hits both alike.

Usage: python benchmarks/bench_engine.py --before DIR [--after DIR] [--rounds R]
``DIR`` is a checkout of gantrain (e.g. ``git worktree add /tmp/before <commit>``); each figure
runs in a fresh interpreter with ``PYTHONPATH=DIR``, this venv's packages otherwise.

- start-up: ``-X importtime`` of the default run (``gantrain steps=1``), the sum of the top-level
  imports' cumulative times, beside ``import torch`` alone;
- step: milliseconds per ``rule.train_step`` of the default run's config (SimGD, MoG 4×256,
  Adam), and of ``method=jare gamma=10``, median of 5 blocks of 40 steps;
- ensemble: member-steps per second of 16 JARE members (``benchmarks/bench_ensemble.py`` of that
  tree, one round of 3 steps).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

STEP = r"""
import time, statistics, torch
from hydra import compose, initialize_config_dir
from gantrain.cli import CONFIG_DIR
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.rules import build_rule
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=OVERRIDES)
torch.manual_seed(0)
checked = validate(cfg)   # None in trees from before validate returned the typed config
game = build_game(cfg if checked is None else checked)
rule = build_rule(cfg.method.name, cfg.gamma, {k: v for k, v in cfg.method.items() if k != "name"})
od, og = build_optimizer(cfg.optim, game.d_params()), build_optimizer(cfg.optim, game.g_params())
rng = torch.Generator().manual_seed(1)
step = lambda: rule.train_step(game, od, og, cfg.batch_size, rng)
for _ in range(10):
    step()
blocks = []
for _ in range(5):
    t = time.perf_counter()
    for _ in range(40):
        step()
    blocks.append((time.perf_counter() - t) / 40 * 1e3)
print(statistics.median(blocks))
"""


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree), "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "2"}


def import_total_ms(tree: Path, args: list[str]) -> float:
    """The sum of the top-level imports' cumulative times (ms) of ``python -X importtime args``."""
    out = subprocess.run([sys.executable, "-X", "importtime", *args], env=_env(tree), cwd=tree,
                         capture_output=True, text=True, check=True)
    total = 0
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m and not m.group(2).startswith(" "):
            total += int(m.group(1))
    return total / 1e3


def startup_ms(tree: Path, tmp: str) -> float:
    return import_total_ms(tree, ["-m", "gantrain.cli", "steps=1", "progress=false",
                                  f"hydra.run.dir={tmp}/{tree.name}-{os.getpid()}"])


def step_ms(tree: Path, overrides: list[str]) -> float:
    code = STEP.replace("OVERRIDES", repr(["logger=none", "progress=false", *overrides]))
    out = subprocess.run([sys.executable, "-c", code], env=_env(tree), cwd=tree,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def ensemble_rate(tree: Path) -> float:
    out = subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_ensemble.py"),
                          "--methods", "jare", "--sizes", "16", "--steps", "3", "--rounds", "1"],
                         env=_env(tree), cwd=tree, capture_output=True, text=True, check=True)
    row = [ln for ln in out.stdout.splitlines() if ln.startswith("| jare")][0]
    return float(row.split("|")[3].split()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=HERE)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                tree = trees[name]
                got = {"import torch (ms)": import_total_ms(tree, ["-c", "import torch"]),
                       "default run's imports (ms)": startup_ms(tree, tmp),
                       "default run step (ms)": step_ms(tree, []),
                       "jare γ=10 step (ms)": step_ms(tree, ["method=jare", "gamma=10"]),
                       "16 JARE members (member-steps/s)": ensemble_rate(tree)}
                for k, v in got.items():
                    rows.setdefault(k, {}).setdefault(name, []).append(v)
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in got.items()),
                      file=sys.stderr, flush=True)
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}; median of {args.rounds} interleaved rounds; before = {args.before}\n")
    print("| measure | before | after | after / before |")
    print("|---|---:|---:|---:|")
    for k, v in rows.items():
        b, a = statistics.median(v["before"]), statistics.median(v["after"])
        print(f"| {k} | {b:.1f} | {a:.1f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
