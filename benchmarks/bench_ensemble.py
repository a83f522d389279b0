"""Ensemble throughput: member-steps per second of N members trained in one process
(``gantrain.ensemble``), against single runs one after another, on the default MoG (4×256 MLPs,
batch 128) unless overridden.

Usage: python benchmarks/bench_ensemble.py [--methods simgd,conopt,jare] [--sizes 1,4,16,64]
                                           [--steps 3] [overrides ...]
Each size is timed over ``--steps`` ensemble steps after one warm-up step (the vmap trace); the
single-run figure is the trainer's own step (``rule.train_step``) over the same number of steps.
Members differ in seed, γ and η as a grid would. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from gantrain.cli import CONFIG_DIR
from gantrain.ensemble import Ensemble


def make_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def members(method: str, n: int, extra: list[str]):
    return [make_cfg(f"method={method}", f"seed={i}", f"gamma={[1, 10, 100][i % 3]}",
                     f"eta={[1e-4, 3e-4, 1e-3][i % 3]}", *extra) for i in range(n)]


def ensemble_rate(method: str, n: int, steps: int, extra: list[str]) -> float:
    """Member-steps per second of an ensemble of ``n``."""
    with tempfile.TemporaryDirectory() as tmp:
        ens = Ensemble(members(method, n, extra), [Path(tmp) / str(i) for i in range(n)])
        ens._stack(ens.members)
        active = [True] * n
        ens.step(ens.members, active)   # warm-up
        t = time.perf_counter()
        for _ in range(steps):
            ens.step(ens.members, active)
        return n * steps / (time.perf_counter() - t)


def single_rate(method: str, steps: int, extra: list[str]) -> float:
    """Steps per second of one run (= member-steps per second of runs one after another)."""
    with tempfile.TemporaryDirectory() as tmp:
        m = Ensemble(members(method, 1, extra), [Path(tmp) / "0"]).members[0]
        step = lambda: m.rule.train_step(m.game, m.opt_d, m.opt_g, m.cfg.batch_size,  # noqa: E731
                                         m.data_rng)
        step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="simgd,conopt,jare")
    ap.add_argument("--sizes", default="1,4,16,64")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    extra = ["logger=none", "progress=false", *args.overrides]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}; "
          f"overrides: {' '.join(args.overrides) or 'none (default MoG)'}; {args.steps} steps\n")
    print("| rule | single runs (members/s) | " + " | ".join(f"N={n}" for n in sizes) + " |")
    print("|---|---:|" + "---:|" * len(sizes))
    for method in args.methods.split(","):
        single = single_rate(method, max(args.steps, 5), extra)
        cells = []
        for n in sizes:
            rate = ensemble_rate(method, n, args.steps, extra)
            cells.append(f"{rate:.1f} ({rate / single:.2f}×)")
        print(f"| {method} | {single:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
