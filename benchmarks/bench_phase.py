"""A 64×64 (lr, γ) phase diagram of the Gaussian game as one batched computation, against running
its grid points one by one.

Usage: python benchmarks/bench_phase.py [--methods conopt,jare] [--size 64] [--steps 2000]
                                        [--singles 4] [--train-runs 2] [--threads 1]
                                        [override ...]            (default: dataset.mu=6)

For each method: (1) the whole grid, lrs 1e-5…1 × γ 0.01…100 log-spaced, as ONE batched run
(``gantrain.analysis.phase.run_grid``, the code path of ``gantrain-analyze analysis.mode=phase``);
(2) a handful of its points run alone through the same code path with G = 1, and (3) a couple
through ``gantrain.train.train`` (logger=none, progress=false). Single runs are timed on points
that did not diverge, so they take all steps; the one-by-one cost of the full grid is then
EXTRAPOLATED as (mean time per step of a single run) × (total steps the 4096 runs need, a
diverged run stopping at its divergence as gantrain.train does). Prints a Markdown snippet.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from gantrain.analysis.phase import classify, run_grid
from gantrain.cli import CONFIG_DIR


def make_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=["dataset=gaussian", "logger=none", "progress=false",
                                           *overrides])


def bench_method(method: str, args, overrides: list[str]) -> dict:
    cfg = make_cfg([f"method={method}", *overrides])
    lrs = np.geomspace(1e-5, 1.0, args.size)
    gammas = np.geomspace(0.01, 100.0, args.size)
    lr_k, gamma_k = np.repeat(lrs, args.size), np.tile(gammas, args.size)
    n = lr_k.size

    run_grid(cfg, lr_k[:16], gamma_k[:16], 20)  # warm-up: first-call costs out of the timing
    t0 = time.perf_counter()
    grid = run_grid(cfg, lr_k, gamma_k, args.steps)
    batched_s = time.perf_counter() - t0
    classes = classify(grid, 1e-2)
    div_at = grid.diverged_at.numpy()
    steps_needed = np.where(div_at > 0, div_at, args.steps)

    rng = np.random.default_rng(0)
    ok = np.flatnonzero(div_at == 0)
    picks = rng.choice(ok, size=min(args.singles + args.train_runs, ok.size), replace=False)
    g1_step, g1_dev = [], []
    for k in picks[:args.singles]:
        t = time.perf_counter()
        one = run_grid(cfg, [lr_k[k]], [gamma_k[k]], args.steps)
        g1_step.append((time.perf_counter() - t) / args.steps)
        g1_dev.append(abs(float(one.final_distance[0]) - float(grid.final_distance[k])))
    train_step = []
    from gantrain.train import train
    for k in picks[args.singles:]:
        run_cfg = make_cfg([f"method={method}", *overrides, f"eta={lr_k[k]}",
                            f"gamma={gamma_k[k]}", f"steps={args.steps}"])
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            train(run_cfg, Path(d))
            train_step.append((time.perf_counter() - t) / args.steps)
    total_steps = int(steps_needed.sum())
    return dict(method=method, n=n, batched_s=batched_s,
                counts={c: classes.count(c) for c in ("converged", "too_slow", "diverged")},
                total_steps=total_steps,
                g1_step=statistics.mean(g1_step), g1_runs=len(g1_step),
                g1_est=statistics.mean(g1_step) * total_steps, g1_dev=max(g1_dev),
                train_step=statistics.mean(train_step) if train_step else None,
                train_runs=len(train_step),
                train_est=statistics.mean(train_step) * total_steps if train_step else None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="simgd,conopt,jare")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--singles", type=int, default=4, help="points run alone with G = 1")
    ap.add_argument("--train-runs", type=int, default=2, help="points run through train()")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("overrides", nargs="*", default=["dataset.mu=6"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [bench_method(m, args, args.overrides) for m in args.methods.split(",")]

    fmt = lambda s: f"{s:,.1f} s" if s < 3600 else f"{s / 3600:.2f} h"  # noqa: E731
    lines = [
        f"{args.size}×{args.size} grid (lr 1e-5…1 × γ 0.01…100, log-spaced), {args.steps} SGD "
        f"steps per point, batch 128, float32, {' '.join(args.overrides)}; torch "
        f"{torch.__version__}, {torch.get_num_threads()} CPU thread(s), "
        f"{platform.processor() or platform.machine()}.",
        "",
        "| method | batched grid (measured) | one by one, same code path G=1 (**extrapolated**) "
        "| one by one, gantrain.train (**extrapolated**) | speed-up vs G=1 | speed-up vs train "
        "| converged / too_slow / diverged |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        c = r["counts"]
        tr = (f"{fmt(r['train_est'])} ({1e3 * r['train_step']:.2f} ms/step, {r['train_runs']} runs)"
              if r["train_est"] else "n/a")
        sp_tr = f"{r['train_est'] / r['batched_s']:.0f}×" if r["train_est"] else "n/a"
        lines.append(
            f"| {r['method']} | {fmt(r['batched_s'])} ({1e3 * r['batched_s'] / args.steps:.1f} "
            f"ms/step for {r['n']} points) | {fmt(r['g1_est'])} ({1e3 * r['g1_step']:.2f} ms/step, "
            f"{r['g1_runs']} runs) | {tr} | {r['g1_est'] / r['batched_s']:.0f}× | {sp_tr} | "
            f"{c['converged']} / {c['too_slow']} / {c['diverged']} |")
    lines += [
        "",
        "Extrapolated = mean time per step of the single runs timed (points that did not diverge, "
        "all steps) × the steps the whole grid needs one by one ("
        + ", ".join(f"{r['method']}: {r['total_steps']:,}" for r in rows)
        + "; a diverged run stops at its divergence, as gantrain.train does). The single G=1 runs "
        "end within " + ", ".join(f"{r['g1_dev']:.1e}" for r in rows)
        + " (distance to the equilibrium) of their grid points.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
