"""Checks through whole training runs of the CLI, each in its own process (the engine's settings
are process-wide): ``engine.deterministic=true`` resumes bit-identically, the EMA in the
checkpoint equals a float64 recomputation from the generator at every step, and
``torchrun --nproc_per_node=1`` (nccl on CUDA, gloo on the CPU) equals the plain run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from gpucheck.common import Sizes, image_overrides

STEPS = 4
DECAY = 0.9
TIMEOUT_S = 300


def run_overrides(sizes: Sizes, device: str) -> list[str]:
    """A JARE run on conv4 (batch norm in G) with an EMA from step 1, a checkpoint every step."""
    return [*image_overrides("conv4", sizes.run_filters, sizes.run_batch, sizes.run_res),
            "method=jare", "gamma=0.5", f"device={device}", "engine.deterministic=true",
            "logger=none", "progress=false", "log_every=1", "checkpoint_every=1",
            f"keep_last={STEPS + 1}", f"ema.decay={DECAY}", "ema.start=1", "eval.image_steps=[]"]


def launch(overrides: list[str], run_dir: Path, torchrun: bool = False) -> None:
    """``python -m gantrain.cli`` (under torchrun with one process when asked); raises with the
    run's last output lines when it fails."""
    head = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
             "-m", "gantrain.cli"] if torchrun else [sys.executable, "-m", "gantrain.cli"])
    env = {**os.environ, "WANDB_MODE": "disabled"}
    # Not from the checkout: `python -m` puts the working directory first on sys.path, and the
    # gantrain installed for the check (a wheel on PYTHONPATH) must be the one that runs.
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([*head, *overrides, f"hydra.run.dir={run_dir}"], env=env,
                          cwd=run_dir.parent, capture_output=True, text=True, timeout=TIMEOUT_S)
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise RuntimeError(f"run {run_dir.name} exited {proc.returncode}: {tail}")


def checkpoint(run_dir: Path, step: int | None = None) -> dict:
    d = run_dir / "checkpoints"
    path = d / "last.pt" if step is None else d / f"step_{step:08d}.pt"
    return torch.load(path, map_location="cpu", weights_only=True)["modules"]


def tensors(state, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state dict, by dotted path."""
    out = {}
    if isinstance(state, torch.Tensor):
        out[prefix] = state
    elif isinstance(state, dict):
        for k, v in state.items():
            out.update(tensors(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            out.update(tensors(v, f"{prefix}.{i}"))
    return out


def differing(a: dict, b: dict) -> list[str]:
    """The tensors of two checkpoints' modules that are not bit-identical (and missing ones)."""
    ta, tb = tensors(a), tensors(b)
    bad = sorted(set(ta) ^ set(tb))
    bad += [k for k in sorted(set(ta) & set(tb)) if ta[k].shape != tb[k].shape
            or not torch.equal(ta[k], tb[k])]
    return bad


class Runs:
    """The straight run, made once and shared by the checks."""

    def __init__(self, sizes: Sizes, device: str, root: Path):
        self.over, self.root = run_overrides(sizes, device), root
        self._straight: Path | None = None

    def straight(self) -> Path:
        if self._straight is None:
            self._straight = self.root / "straight"
            launch([*self.over, f"steps={STEPS}"], self._straight)
        return self._straight


def check_resume(runs: Runs):
    """STEPS steps straight, and STEPS/2 then a resume to STEPS: every tensor bit-identical."""
    resumed = runs.root / "resumed"
    launch([*runs.over, f"steps={STEPS // 2}"], resumed)
    launch([*runs.over, f"steps={STEPS}"], resumed)
    bad = differing(checkpoint(runs.straight()), checkpoint(resumed))
    n = len(tensors(checkpoint(resumed)))
    return not bad, {"tensors_compared": n, "differing": bad[:20]}, (
        f"{n} tensors bit-identical" if not bad else f"{len(bad)} tensors differ: {bad[:5]}")


def check_ema(runs: Runs):
    """The checkpoint's EMA against e_1 = g_1, e_k = d·e_(k−1) + (1 − d)·g_k in float64 from
    the generator kept at every step; buffers (batch-norm statistics) are the generator's."""
    run = runs.straight()
    gens = [checkpoint(run, s)["generator"] for s in range(1, STEPS)] + [checkpoint(run)["generator"]]
    ema = checkpoint(run)["game"]["ema"]
    ref = {k: v.double() for k, v in gens[0].items()}
    for g in gens[1:]:
        ref = {k: (DECAY * ref[k] + (1 - DECAY) * g[k].double()) if g[k].is_floating_point()
               else g[k] for k in ref}
    buffers = {k for k in gens[-1] if "running_" in k or "num_batches" in k}
    worst, bad_buffers = 0.0, []
    for k, v in ref.items():
        if k in buffers:
            if not torch.equal(ema[k], gens[-1][k]):
                bad_buffers.append(k)
            continue
        scale = float(v.abs().max()) or 1.0
        worst = max(worst, float((ema[k].double() - v).abs().max()) / scale)
    tol = 16 * torch.finfo(torch.float32).eps
    ok = worst <= tol and not bad_buffers
    return ok, {"max_rel_err": worst, "tolerance": tol, "steps": STEPS, "decay": DECAY,
                "buffers_differing": bad_buffers}, (
        f"max relative error {worst:.3g} (tolerance {tol:.3g}), buffers "
        + ("equal" if not bad_buffers else f"differ: {bad_buffers[:3]}"))


def check_torchrun(runs: Runs):
    """torchrun --standalone --nproc_per_node=1 against the plain run: bit-identical."""
    one = runs.root / "torchrun"
    launch([*runs.over, f"steps={STEPS}"], one, torchrun=True)
    bad = differing(checkpoint(runs.straight()), checkpoint(one))
    backend = "nccl" if "device=cuda" in runs.over else "gloo"
    return not bad, {"backend": backend, "differing": bad[:20]}, (
        f"{backend}: bit-identical to the plain run" if not bad else f"{len(bad)} tensors differ: {bad[:5]}")
