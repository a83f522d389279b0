"""Roofline of the default MoG step: floating-point operations per update (counted by
``torch.utils.flop_counter``), the rate a single run and an ensemble reach, and the rate this
machine's matrix products reach at the step's own shapes. The ratio of the last to the first
bounds what any batching of runs can gain on this machine.

Usage: python benchmarks/bench_roofline.py [--methods simgd,conopt,jare] [--n 16] [--steps 5]
                                           [overrides ...]
Run it once with two torch threads and once with ``OMP_NUM_THREADS=1``. Prints Markdown.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch
from bench_ensemble import ensemble_stepper, members, single_stepper
from torch.utils.flop_counter import FlopCounterMode


def timed(fn, steps: int) -> float:
    """Seconds per call of ``fn`` (median of ``steps`` calls after one warm-up call)."""
    fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_rate(n: int, batch: int, width: int, steps: int) -> float:
    """GFLOP/s of ``n`` stacked [batch, width] @ [width, width] products (one mm when n = 1)."""
    a = torch.randn(n, batch, width)
    b = torch.randn(n, width, width)
    fn = (lambda: torch.mm(a[0], b[0])) if n == 1 else (lambda: torch.bmm(a, b))
    return 2 * n * batch * width * width / timed(fn, steps * 20) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="simgd,conopt,jare")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    extra = ["logger=none", "progress=false", *args.overrides]
    cfg = members("simgd", 1, extra)[0]
    batch, width = cfg.batch_size, cfg.arch.width
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}; "
          f"batch {batch}, width {width}; median of {args.steps} steps\n")
    print("| matrix product | GFLOP/s |\n|---|---:|")
    for n, b, w in [(1, batch, width), (args.n, batch, width), (1, 2048, 2048)]:
        label = f"{'mm' if n == 1 else f'bmm ×{n}'} [{b}×{w}] @ [{w}×{w}]"
        print(f"| {label} | {matmul_rate(n, b, w, args.steps):.1f} |", flush=True)
    print(f"\n| rule | MFLOP per member-step | single run: ms, GFLOP/s | N={args.n}: ms per "
          "member-step, GFLOP/s |\n|---|---:|---:|---:|")
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            one = single_stepper(method, extra, tmp)
            many = ensemble_stepper(method, args.n, extra, tmp)
            f1, fn = flops(one), flops(many) / args.n
            t1, tn = timed(one, args.steps), timed(many, args.steps) / args.n
        print(f"| {method} | {f1 / 1e6:.0f} (ensemble {fn / 1e6:.0f}) | {t1 * 1e3:.2f}, "
              f"{f1 / t1 / 1e9:.1f} | {tn * 1e3:.2f}, {fn / tn / 1e9:.1f} |", flush=True)


if __name__ == "__main__":
    main()
