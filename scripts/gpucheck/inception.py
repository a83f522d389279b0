"""Inception on the device: features equal the CPU ones and pytorch-fid's own InceptionV3 on the
same weights file, throughput against pytorch-fid's, and the wall time of an IS + FID evaluation
through the image game (``ImageGame.evaluate``) with cached reference statistics.

The weights are a randomly initialised file of the right shapes under the real file name (as the
tests make it); the speed and the agreement do not depend on the values."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from gantrain.metrics import defaults
from gantrain.metrics.inception import InceptionFeatures, build_fid_inception, quantize, weights_path
from gpucheck.common import TF32_BOUND, Sizes, compose_cfg, image_overrides, rel_err, set_tf32, sync

FEATURE_BOUND = 1e-4   # float32, TF32 off: ~100 layers of round-off, far below any real change


def make_random_weights(torch_home: Path) -> Path:
    """Point TORCH_HOME at ``torch_home`` and write random weights there (seed 0; convolutions
    Kaiming-normal so that features vary); returns the file."""
    os.environ["TORCH_HOME"] = str(torch_home)
    path = weights_path()
    if not path.is_file():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = build_fid_inception()
            for m in net.modules():
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(m.weight)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
    return path


def _images(n: int, device: str, res: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return (torch.rand(n, 3, res, res, generator=g) * 2 - 1).to(device)


def _pytorch_fid_net(device: str):
    from pytorch_fid.inception import InceptionV3

    return InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[defaults.FEATURE_DIM]]).to(device).eval()


def check_features(sizes: Sizes, device: str):
    """pool3 and logits on the device (TF32 off and on) against the CPU; pool3 against
    pytorch-fid's InceptionV3 on the device, on the same 8-bit images."""
    x = _images(sizes.feature_images, "cpu")
    cpu_pool, cpu_logits = InceptionFeatures(weights_path(), "cpu")(x)
    ours = InceptionFeatures(weights_path(), device)
    errs = {}
    for tf32 in ((False, True) if device.startswith("cuda") else (False,)):
        set_tf32(tf32)
        pool, logits = ours(x.to(device))
        errs["tf32" if tf32 else "f32"] = max(rel_err([pool], [cpu_pool]),
                                              rel_err([logits], [cpu_logits]))
    set_tf32(False)
    with torch.no_grad():
        theirs = _pytorch_fid_net(device)((quantize(x.to(device)) + 1) / 2)[0].flatten(1)
    pool, _ = ours(x.to(device))
    errs["vs_pytorch_fid"] = rel_err([pool], [theirs])
    ok = (errs["f32"] <= FEATURE_BOUND and errs["vs_pytorch_fid"] <= FEATURE_BOUND
          and errs.get("tf32", 0.0) <= TF32_BOUND)
    note = ", ".join(f"{k} {v:.3g}" for k, v in errs.items())
    return ok, {**errs, "bound_f32": FEATURE_BOUND, "bound_tf32": TF32_BOUND,
                "images": sizes.feature_images}, f"relative errors: {note}"


def _throughput(fn, x: torch.Tensor, batches: int, device: str) -> float:
    with torch.no_grad():
        fn(x)                       # warm-up (cuDNN autotuning)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(batches):
            fn(x)
        sync(device)
    return batches * x.shape[0] / (time.perf_counter() - t0)


def measure_throughput(sizes: Sizes, device: str) -> dict:
    """Images/s of gantrain's Inception (8-bit rounding, resize, NHWC) and of pytorch-fid's
    InceptionV3 (resize, NCHW) at batch ``inception_batch`` on 32×32 inputs, TF32 on, as the
    engine runs evaluations by default."""
    set_tf32(True)
    torch.backends.cudnn.benchmark = True
    try:
        x = _images(sizes.inception_batch, device)
        ours = _throughput(InceptionFeatures(weights_path(), device), x, sizes.inception_batches, device)
        net = _pytorch_fid_net(device)
        theirs = _throughput(lambda b: net((b + 1) / 2), x, sizes.inception_batches, device)
    finally:
        set_tf32(False)
        torch.backends.cudnn.benchmark = False
    return {"batch": sizes.inception_batch, "batches": sizes.inception_batches,
            "gantrain_img_s": ours, "pytorch_fid_img_s": theirs, "ratio": ours / theirs}


def measure_isfid(sizes: Sizes, device: str) -> dict:
    """Wall time of IS + FID of ``isfid_samples`` samples of a resnet_v1 generator (64 filters on
    CUDA) through ``ImageGame.evaluate``, the reference statistics already cached by a first,
    smaller evaluation (timed apart)."""
    n = sizes.isfid_samples
    ref = min(n, defaults.MIN_FID_SAMPLES)
    cfg = compose_cfg([*image_overrides("resnet_v1", sizes.bench_filters, sizes.bench_batch),
                       f"dataset.size={ref}", f"device={device}", "eval.every=1",
                       f"eval.num_samples={ref}", f"eval.reference_num_images={ref}",
                       "eval.force_fid=true", f"eval.splits={min(10, n // 2)}",
                       f"eval.batch_size={min(200, n)}"])
    set_tf32(True)
    torch.backends.cudnn.benchmark = True
    try:
        torch.manual_seed(0)
        from gantrain.config import validate
        from gantrain.games import build_game
        game = build_game(validate(cfg), device)
        t0 = time.perf_counter()
        first = game.evaluate(0)       # computes and caches the reference statistics
        t1 = time.perf_counter()
        cfg.eval.num_samples = n
        scores = game.evaluate(0)
        sync(device)
        t2 = time.perf_counter()
    finally:
        set_tf32(False)
        torch.backends.cudnn.benchmark = False
    if scores.get("fid") is None:
        raise RuntimeError(f"no FID: {scores.get('missing')}")
    return {"samples": n, "wall_s": t2 - t1, "first_eval_s": t1 - t0, "first_eval_samples": ref,
            "reference_images": ref, "inception_score": scores["inception_score"],
            "fid": scores["fid"], "first_fid": first.get("fid")}
