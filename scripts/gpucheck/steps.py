"""Step time, images/s, peak memory and FLOPs per rule and architecture, through
benchmarks/bench_images.py's step (the training loop's ``rule.train_step`` on fake_images), with
the engine's CUDA defaults (TF32, cuDNN autotuning, channels_last)."""
from __future__ import annotations

import torch
from bench_images import build_step, median_step_time
from torch.utils.flop_counter import FlopCounterMode

from gantrain.models.resnet import RESNETS
from gpucheck.common import Sizes, peak_memory_mib, reset_peak_memory, set_tf32

ARCHS = ("resnet_v1", "resnet_v2", "resnet_celeba", "resnet_imagenet", "dcgan4")
METHODS = ("simgd", "altgd", "conopt", "jare", "jare_g", "conopt_d")
REGULARIZED = ("conopt", "jare", "jare_g", "conopt_d")
GOAL_FACTOR = 1.15      # goal: a regularized rule's time ratio to SimGD ≤ 1.15 × its FLOP ratio


def _is_oom(e: Exception) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e)


def measure_one(arch: str, method: str, batch: int, sizes: Sizes, device: str) -> dict:
    """One (arch, rule): ms/step, images/s, peak memory (MiB, CUDA only) and FLOPs of one step."""
    res = RESNETS[arch][0] if arch in RESNETS else 32
    step, game = build_step(arch, method, batch, sizes.bench_filters, device,
                            (f"dataset.resolution={res}",))
    reset_peak_memory(device)
    t = median_step_time(step, device, sizes.bench_steps, sizes.bench_warmup)
    peak = peak_memory_mib(device)
    with FlopCounterMode(display=False) as counter:
        step()
    batches = 2 if method == "altgd" else 1   # AltGD draws a fresh batch per player
    del step, game
    return {"arch": arch, "rule": method, "batch": batch, "resolution": res,
            "ms_per_step": 1e3 * t, "images_per_s": batches * batch / t, "peak_mib": peak,
            "gflop_per_step": counter.get_total_flops() / 1e9}


def measure_arch(arch: str, sizes: Sizes, device: str) -> list[dict]:
    """Every rule of METHODS on ``arch`` at the largest batch ≤ bench_batch that fits (halved on
    out-of-memory, the same batch for every rule), with ratios to SimGD."""
    batch = sizes.bench_batch
    while True:
        try:
            rows = [measure_one(arch, m, batch, sizes, device) for m in METHODS]
            break
        except RuntimeError as e:
            if not _is_oom(e) or batch <= 1:
                raise
            batch //= 2
            torch.cuda.empty_cache()
    base = rows[0]
    for r in rows:
        r["time_ratio"] = r["ms_per_step"] / base["ms_per_step"]
        r["flop_ratio"] = r["gflop_per_step"] / base["gflop_per_step"]
        r["goal_met"] = (r["time_ratio"] <= GOAL_FACTOR * r["flop_ratio"]
                         if r["rule"] in REGULARIZED else None)
    return rows


def measure_steps(sizes: Sizes, device: str, archs=ARCHS) -> list[dict]:
    set_tf32(True)
    torch.backends.cudnn.benchmark = device.startswith("cuda")
    try:
        return [r for a in archs for r in measure_arch(a, sizes, device)]
    finally:
        set_tf32(False)
        torch.backends.cudnn.benchmark = False
