"""Ensemble throughput: member-steps per second of N members trained in one process
(``gantrain.ensemble``), against single runs one after another, on the default MoG (4×256 MLPs,
batch 128) unless overridden.

Usage: python benchmarks/bench_ensemble.py [--methods simgd,conopt,jare] [--sizes 1,4,16,64]
                                           [--steps 3] [--rounds 3] [overrides ...]
Each size is timed over ``--steps`` ensemble steps after one warm-up step (the vmap trace); the
single-run figure is the trainer's own step (``rule.train_step``) over at least 5 steps. Rounds
interleave the two; each figure is the median over the rounds.
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
from gantrain.train import Trainer


def make_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def members(method: str, n: int, extra: list[str]):
    return [make_cfg(f"method={method}", f"seed={i}", f"gamma={[1, 10, 100][i % 3]}",
                     f"eta={[1e-4, 3e-4, 1e-3][i % 3]}", *extra) for i in range(n)]


def ensemble_stepper(method: str, n: int, extra: list[str], tmp: str):
    """One ensemble step of ``n`` members (a callable), after its warm-up step (the vmap trace)."""
    ens = Ensemble(members(method, n, extra), [Path(tmp) / f"{n}-{i}" for i in range(n)])
    ens._stack(ens.members)
    active = [True] * n
    step = lambda: ens.step(ens.members, active)  # noqa: E731
    step()
    return step


def single_stepper(method: str, extra: list[str], tmp: str):
    """One step of one run, the trainer's own (``rule.train_step``), after a warm-up step."""
    m = Trainer(members(method, 1, extra)[0], Path(tmp) / "single")
    step = lambda: m.rule.train_step(m.game, m.opt_d, m.opt_g, m.cfg.batch_size,  # noqa: E731
                                     m.data_rng)
    step()
    return step


def rate(step, n: int, steps: int) -> float:
    """Member-steps per second of ``steps`` calls of ``step`` (``n`` members each)."""
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return n * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="simgd,conopt,jare")
    ap.add_argument("--sizes", default="1,4,16,64")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    extra = ["logger=none", "progress=false", *args.overrides]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}; "
          f"overrides: {' '.join(args.overrides) or 'none (default MoG)'}; median of "
          f"{args.rounds} interleaved rounds of {args.steps} steps\n")
    print("| rule | single runs (members/s) | " + " | ".join(f"N={n}" for n in sizes) + " |")
    print("|---|---:|" + "---:|" * len(sizes))
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            single = single_stepper(method, extra, tmp)
            ens = {n: ensemble_stepper(method, n, extra, tmp) for n in sizes}
            # rounds interleave single runs and ensembles, so that a slow spell of a shared host
            # hits both; the ratio is the median of the rounds' own ratios
            rounds = []
            for _ in range(args.rounds):
                base = rate(single, 1, max(args.steps, 5))
                rounds.append((base, {n: rate(ens[n], n, args.steps) for n in sizes}))
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        cells = [f"{med([r[n] for _, r in rounds]):.1f} ({med([r[n] / b for b, r in rounds]):.2f}×)"
                 for n in sizes]
        print(f"| {method} | {med([b for b, _ in rounds]):.1f} | " + " | ".join(cells) + " |",
              flush=True)


if __name__ == "__main__":
    main()
