"""Step time of every update rule on the MoG 4×256 MLP game (batch 128), as a ratio to SimGD.

Usage: python benchmarks/bench_step_time.py [--steps N] [--repeats R] [--out FILE]
       python benchmarks/bench_step_time.py --estimates [--methods conopt,jare]
``--estimates`` times the regularized rules with each ``method.regularizer_estimate`` (same_batch,
unbiased, variance_corrected) instead of every rule with its default. Rules are timed
interleaved, R rounds of N steps each, and the median round is reported, so that
machine noise hits every rule alike. Results are written as a Markdown table.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from gantrain.cli import CONFIG_DIR
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.rules import RULES, build_rule

ESTIMATES = ("same_batch", "unbiased", "variance_corrected")


def setup(method: str, overrides: list[str]):
    """``method`` may carry an estimate: "conopt [unbiased]"."""
    name, _, estimate = method.partition(" [")
    extra = [f"method.regularizer_estimate={estimate.rstrip(']')}"] if estimate else []
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"method={name}", *extra, *overrides])
    torch.manual_seed(0)
    game = build_game(validate(cfg))
    rule = build_rule(name, cfg.gamma, {k: v for k, v in cfg.method.items() if k != "name"})
    opt_d = build_optimizer(cfg.optim, game.d_params())
    opt_g = build_optimizer(cfg.optim, game.g_params())
    rng = torch.Generator().manual_seed(1)
    return lambda: rule.train_step(game, opt_d, opt_g, cfg.batch_size, rng)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--estimates", action="store_true",
                    help="each regularized rule with each regularizer_estimate")
    ap.add_argument("--methods", default="conopt,jare,conopt_g,conopt_d,jare_g,jare_d",
                    help="with --estimates: the rules, comma-separated")
    ap.add_argument("overrides", nargs="*", default=["batch_size=128", "arch.depth=4", "arch.width=256"])
    args = ap.parse_args()
    if args.estimates:
        methods = ["simgd"] + [f"{m} [{e}]" for m in args.methods.split(",") for e in ESTIMATES]
    else:
        methods = ["simgd"] + sorted(m for m in RULES if m != "simgd")
    steppers = {m: setup(m, args.overrides) for m in methods}
    for step in steppers.values():  # warm-up
        for _ in range(5):
            step()
    rounds: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(args.repeats):
        for m, step in steppers.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            rounds[m].append((time.perf_counter() - t0) / args.steps)
    base = statistics.median(rounds["simgd"])
    lines = ["| rule | step time (ms) | ratio to simgd |", "|---|---:|---:|"]
    for m in methods:
        t = statistics.median(rounds[m])
        lines.append(f"| {m} | {1e3 * t:.2f} | {t / base:.2f} |")
    header = (f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"{platform.processor() or platform.machine()}; overrides: {' '.join(args.overrides)}; "
              f"median of {args.repeats} rounds of {args.steps} steps")
    text = header + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
