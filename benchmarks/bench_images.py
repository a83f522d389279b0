"""Image-GAN step time and throughput per update rule and architecture, and Inception feature
throughput.

Usage: python benchmarks/bench_images.py [--archs resnet_v1,resnet_v2,dcgan4_nobn] [--batch 64]
                                         [--filters 64] [--steps 5] [--device auto] [--inception]
On the CPU use a small size (e.g. --filters 16 --batch 16); on a GPU the papers' batch 64 and
64 filters. Data are fake_images (made in code), so only the models and the rule are timed.
Prints a Markdown table: ms per step, images per second (real images consumed per second).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from hydra import compose, initialize_config_dir

from gantrain.cli import CONFIG_DIR
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.rules import build_rule

METHODS = ("simgd", "altgd", "conopt", "jare")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def build_step(arch: str, method: str, batch: int, filters: int, device: str,
               extra: tuple[str, ...] = ()):
    """One training step of ``method`` on ``arch`` (fake_images, ``extra`` overrides added).

    Returns:
        (step, game): ``step()`` runs one step as the training loop does; ``game`` its game.
    """
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            "dataset=fake_images", f"dataset.size={max(256, batch)}", f"arch={arch}",
            f"arch.filters={filters}", f"method={method}", f"batch_size={batch}",
            "logger=none", f"device={device}", *extra])
    torch.manual_seed(0)
    game = build_game(validate(cfg), device)
    rule = build_rule(method, cfg.gamma, {k: v for k, v in cfg.method.items() if k != "name"})
    opt_d = build_optimizer(cfg.optim, game.d_params())
    opt_g = build_optimizer(cfg.optim, game.g_params())
    rng = torch.Generator(device=device).manual_seed(1)
    return (lambda: rule.train_step(game, opt_d, opt_g, cfg.batch_size, rng)), game


def median_step_time(step, device: str, steps: int, warmup: int = 2) -> float:
    """Median seconds of ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_rule(arch: str, method: str, args, device: str) -> float:
    step, _ = build_step(arch, method, args.batch, args.filters, device)
    return median_step_time(step, device, args.steps)


def inception_throughput(device: str, n: int = 100) -> float | None:
    from gantrain.metrics.inception import build_fid_inception

    net = build_fid_inception().to(device).eval()
    x = torch.rand(50, 3, 299, 299, device=device)
    with torch.no_grad():
        net(x[:2])
        sync(device)
        t0 = time.perf_counter()
        for _ in range(n // 50):
            net(x)
        sync(device)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", default="resnet_v1,resnet_v2,dcgan4_nobn")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--filters", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--inception", action="store_true", help="also time Inception features")
    args = ap.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name() if device == "cuda" else (platform.processor() or platform.machine())
    print(f"device {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"batch {args.batch}, filters {args.filters}, median of {args.steps} steps\n")
    methods = args.methods.split(",")
    print("| arch | " + " | ".join(f"{m} ms/step (img/s)" for m in methods) + " |")
    print("|---|" + "---:|" * len(methods))
    for arch in args.archs.split(","):
        cells = []
        for m in methods:
            t = time_rule(arch, m, args, device)
            batches = 2 if m == "altgd" else 1      # AltGD draws a fresh batch per player
            cells.append(f"{1e3 * t:.1f} ({batches * args.batch / t:.0f})")
        print(f"| {arch} | " + " | ".join(cells) + " |")
    if args.inception:
        print(f"\nInception features (299×299, batch 50): {inception_throughput(device):.1f} images/s")


if __name__ == "__main__":
    main()
