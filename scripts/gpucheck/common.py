"""Pieces every part of the GPU check shares: the sizes of each mode, the numerical bounds, device
helpers and the record of one check."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

# A float32 result "agrees within float32 round-off" when its relative error against the float64
# reference is at most F32_FACTOR times that of the same computation in float32 on the CPU (the
# round-off of this very computation: cancellation in double backprop makes it depend on the
# rule and net), or F32_FLOOR = 64 float32 epsilons, whichever is larger.
F32_FACTOR = 8.0
F32_FLOOR = 64 * torch.finfo(torch.float32).eps
# TF32 rounds matmul/conv inputs to a 10-bit mantissa (unit round-off 2**-11 = 4.9e-4). The bound
# stated before any GPU was seen: 2e-2 relative, 40 unit round-offs for growth through depth and
# the second backward pass. The report gives the measured error beside it.
TF32_BOUND = 2e-2


@dataclass(frozen=True)
class Sizes:
    """How big each part of the check runs."""
    dir_filters: int          # rule directions: network width and batch
    dir_batch: int
    dir_res: int              # resolution of the DC-GAN style nets in the direction checks
    dir_max_s: float | None   # the direction check stops comparing after this many seconds
    run_filters: int          # training runs (resume, EMA, torchrun)
    run_batch: int
    run_res: int
    bench_filters: int        # measurements
    bench_batch: int
    bench_steps: int          # timed steps (after warm-up)
    bench_warmup: int
    inception_batch: int      # Inception throughput
    inception_batches: int
    feature_images: int       # Inception features device vs CPU
    isfid_samples: int        # IS + FID wall time
    ens_sizes: tuple[int, ...] = (1, 16, 64, 256)   # ensemble throughput: members per ensemble
    ens_steps: int = 10                             # timed ensemble steps (after bench_warmup)
    ens_overrides: tuple[str, ...] = ()             # the MoG game's config (default: 4×256)


CUDA = Sizes(dir_filters=8, dir_batch=8, dir_res=32, dir_max_s=150, run_filters=16, run_batch=32, run_res=32,
             bench_filters=64, bench_batch=64, bench_steps=10, bench_warmup=3,
             inception_batch=200, inception_batches=5, feature_images=16, isfid_samples=50_000)
CPU = Sizes(dir_filters=4, dir_batch=4, dir_res=16, dir_max_s=None, run_filters=4, run_batch=8, run_res=16,
            bench_filters=4, bench_batch=4, bench_steps=2, bench_warmup=1,
            inception_batch=4, inception_batches=1, feature_images=2, isfid_samples=20,
            ens_sizes=(1, 2), ens_steps=1, ens_overrides=("arch.width=16", "batch_size=16"))


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def set_tf32(on: bool) -> None:
    """TF32 for CUDA matmuls and convolutions (no effect on the CPU)."""
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib(device: str) -> float | None:
    """Peak allocated device memory since the last reset (None on the CPU)."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return None


def rel_err(a: Sequence[torch.Tensor], ref: Sequence[torch.Tensor]) -> float:
    """‖a − ref‖₂ / ‖ref‖₂ over all tensors, in float64 on the CPU (0 when both are 0)."""
    diff = sum(float((x.detach().double().cpu() - y.detach().double().cpu()).square().sum())
               for x, y in zip(a, ref))
    size = sum(float(y.detach().double().cpu().square().sum()) for y in ref)
    if size == 0:
        return 0.0 if diff == 0 else math.inf
    return math.sqrt(diff / size)


def f32_bound(cpu_f32_err: float) -> float:
    """The float32 round-off bound for a computation whose CPU float32 error is ``cpu_f32_err``."""
    return max(F32_FACTOR * cpu_f32_err, F32_FLOOR)


def compose_cfg(overrides: Sequence[str]):
    """The composed training config for ``gantrain <overrides>`` (logger off, no progress bar)."""
    from hydra import compose, initialize_config_dir

    from gantrain.cli import CONFIG_DIR
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=["logger=none", "progress=false", *overrides])


def image_overrides(arch: str, filters: int, batch: int, res: int | None = None) -> list[str]:
    """fake_images at the arch's resolution (``res`` for the DC-GAN style nets)."""
    from gantrain.models.resnet import RESNETS

    res = RESNETS[arch][0] if arch in RESNETS else res
    return ["dataset=fake_images", f"dataset.size={max(64, batch)}", f"dataset.resolution={res}",
            f"arch={arch}", f"arch.filters={filters}", f"batch_size={batch}"]


@dataclass
class Check:
    """One check: its name, whether it passed, its numbers and a one-line note."""
    name: str
    passed: bool
    numbers: dict
    note: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def run_check(name: str, fn, *args) -> Check:
    """``fn(*args) -> (passed, numbers, note)`` timed; an exception is a failed check naming it."""
    t0 = time.perf_counter()
    try:
        passed, numbers, note = fn(*args)
    except Exception as e:  # one broken check must not cost the others their results
        passed, numbers, note = False, {}, f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"
    return Check(name, bool(passed), numbers, note, round(time.perf_counter() - t0, 2))
