"""Run every part of the GPU check on one device and write the report after each part, so that a
run cut short by its time limit still leaves what it measured."""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

import gantrain
from gpucheck import directions, ensemble, inception, report, runs, steps
from gpucheck.common import CPU, CUDA, run_check

CHECKS = ("rule_directions", "channels_last", "inception_features", "deterministic_resume",
          "ema", "torchrun")
MEASUREMENTS = ("steps", "ensemble", "inception_throughput", "isfid")
PARTS = CHECKS + MEASUREMENTS


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="gpu_check", description=__doc__)
    ap.add_argument("--device", default="auto", help="cuda | cpu | auto (cuda when visible)")
    ap.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json/.md")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma list of: {', '.join(PARTS)}")
    ap.add_argument("--rules", default="", help="rules of the direction check (default: all)")
    ap.add_argument("--bench-archs", default=",".join(steps.ARCHS), help="archs of the step timing")
    ap.add_argument("--budget-s", type=float, default=450.0,
                    help="parts not started by then are skipped (the whole call must end in 8 min)")
    args = ap.parse_args(argv)
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown:
        ap.error(f"--only={args.only!r} is invalid: {sorted(unknown)} unknown; allowed: {', '.join(PARTS)}")
    if args.device not in ("auto", "cuda", "cpu"):
        ap.error(f"--device={args.device!r} is invalid: allowed: auto, cuda, cpu")
    return args


def device_info(device: str, mode_note: str) -> dict:
    cuda = device.startswith("cuda")
    return {"type": "cuda" if cuda else "cpu", "mode": "cuda" if cuda else "cpu",
            "name": torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine()),
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "gantrain_from": str(Path(gantrain.__file__).parent),
            "install": mode_note}


def _part(name: str, device: str, sizes, args, work: Path, state: dict):
    """Run one part: a Check for the checks, a number dict for the measurements."""
    if name == "rule_directions":
        rules = [r for r in args.rules.split(",") if r] or None
        return run_check(name, directions.check_directions, sizes, device, rules, sizes.dir_max_s)
    if name == "channels_last":
        return run_check(name, directions.check_channels_last, sizes, device)
    if name == "inception_features":
        return run_check(name, inception.check_features, sizes, device)
    if name in ("deterministic_resume", "ema", "torchrun"):
        state.setdefault("runs", runs.Runs(sizes, device, work / "runs"))
        fn = {"deterministic_resume": runs.check_resume, "ema": runs.check_ema,
              "torchrun": runs.check_torchrun}[name]
        return run_check(name, fn, state["runs"])
    if name == "steps":
        return steps.measure_steps(sizes, device, tuple(args.bench_archs.split(",")))
    if name == "ensemble":
        return ensemble.measure_ensemble(sizes, device)
    if name == "inception_throughput":
        return inception.measure_throughput(sizes, device)
    return inception.measure_isfid(sizes, device)


def main(argv=None, install_note: str = "") -> int:
    """Returns 0 when every check that ran passed, 1 otherwise."""
    args = parse(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device=cuda is invalid: no CUDA device is visible; use --device cpu",
              file=sys.stderr)
        return 2
    sizes = CUDA if device == "cuda" else CPU
    t0 = time.perf_counter()
    print(f"gpu_check: python {platform.python_version()} (make gpu-wheels' GPU_PYTHON_VERSION must "
          f"match), torch {torch.__version__}, device {device}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    os.environ["GANTRAIN_CACHE"] = str(work / "fid_cache")
    os.environ["WANDB_MODE"] = "disabled"
    inception.make_random_weights(work / "torch_home")
    rep = {"device": device_info(device, install_note), "checks": [], "measurements": {},
           "errors": {}, "skipped": [], "wall_s": 0.0}
    state: dict = {}
    for name in [p for p in PARTS if p in args.only.split(",")]:
        if time.perf_counter() - t0 > args.budget_s:
            rep["skipped"].append(name)
            print(f"gpu_check: {name} skipped (budget {args.budget_s:g} s spent)", flush=True)
            continue
        t = time.perf_counter()
        try:
            out = _part(name, device, sizes, args, work, state)
        except Exception as e:  # a measurement that breaks is reported; the others still run
            out = None
            rep["errors"][name] = f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"
        if name in CHECKS:
            rep["checks"].append(out.as_dict())
            status = f"{'pass' if out.passed else 'FAIL'}: {out.note}"
        else:
            if out is not None:
                rep["measurements"][name] = out
            status = rep["errors"].get(name, "done")
        print(f"gpu_check: {name} ({time.perf_counter() - t:.1f} s) {status}", flush=True)
        rep["wall_s"] = time.perf_counter() - t0
        rep["goals"] = report.goals(rep)
        report.write(rep, args.out)
    rep["wall_s"] = time.perf_counter() - t0
    rep["goals"] = report.goals(rep)
    js, md = report.write(rep, args.out)
    print(f"gpu_check: wrote {js} and {md} in {rep['wall_s']:.0f} s", flush=True)
    ok = all(c["passed"] for c in rep["checks"]) and not rep["errors"]
    return 0 if ok else 1
