"""Talking to the one-node SLURM cluster of `make test-slurm` (scripts/slurm_cluster.sh): submit,
watch and release jobs, and compare runs. The tests are skipped when no cluster is up."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SBATCH_SCRIPT = REPO / "scripts" / "gantrain.sbatch"
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE"}


def up() -> bool:
    """A cluster answers: SLURM_CONF names this test cluster's config and sinfo reads it."""
    if not os.environ.get("SLURM_CONF") or not shutil.which("sinfo"):
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


needs_cluster = pytest.mark.skipif(not up(), reason="no SLURM cluster (run `make test-slurm`)")


def env(**extra: str) -> dict:
    """The environment of the jobs (sbatch exports it): this venv's gantrain, no wandb, one
    thread per process (1 CPU per task)."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SUBMITIT_")) or k == "SLURM_CONF"}
    e.update(WANDB_MODE="disabled", OMP_NUM_THREADS="1", HYDRA_FULL_ERROR="0",
             PATH=f"{BIN}{os.pathsep}{e.get('PATH', '')}", GANTRAIN=str(BIN / "gantrain"),
             PYTHONPATH=str(REPO), **extra)   # the tree under test (a mutant's copy too)
    return e


def sbatch(args: list[str], cwd: Path, **extra: str) -> str:
    """Submit; the job id."""
    out = subprocess.run(["sbatch", "--parsable", *args], cwd=cwd, env=env(**extra),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split(";")[0]


def job(job_id: str) -> dict[str, str]:
    """`scontrol show job` as a dict (JobState, Restarts, ExitCode, ...)."""
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                         text=True, timeout=30).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def release_requeued(job_id: str, info: dict[str, str]) -> None:
    """SLURM holds a requeued job back (BeginTime two minutes later); let it start now instead of
    waiting for that."""
    if info.get("JobState") == "PENDING" and info.get("Reason") == "BeginTime":
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"],
                       capture_output=True, timeout=30)


def wait_job(job_id: str, timeout: float = 400) -> dict[str, str]:
    """Wait until the job ended for good (requeued jobs released at once); its last record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = job(job_id)
        if info.get("JobState") in ENDED:
            return info
        release_requeued(job_id, info)
        time.sleep(0.5)
    subprocess.run(["scancel", job_id], timeout=30)
    raise AssertionError(f"job {job_id} did not end within {timeout} s: {job(job_id)}")


def wait_for(predicate, what: str, timeout: float = 300, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"{what} not seen within {timeout} s")


def run_local(run_dir: Path, *overrides: str, world: int = 1) -> subprocess.CompletedProcess:
    """The same run in this process's machine, outside SLURM (the reference)."""
    cmd = [str(BIN / "gantrain"), "progress=false", f"hydra.run.dir={run_dir}",
           *overrides]
    res = subprocess.run(cmd, cwd=run_dir.parent, env=env(), capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def tensors(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state dict, by path."""
    out: dict[str, torch.Tensor] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(tensors(v, f"{prefix}{k}."))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(tensors(v, f"{prefix}{i}."))
    elif isinstance(tree, torch.Tensor):
        out[prefix] = tree
    return out


def assert_bit_identical(run_dir: Path, ref_dir: Path) -> int:
    """The final checkpoints hold the same step and the same bits in every tensor (models,
    optimizers, RNG states), and the summaries the same metrics; the number of tensors."""
    a, b = checkpoint(run_dir), checkpoint(ref_dir)
    assert a["step"] == b["step"]
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys() and len(ta) > 4
    for k in ta:
        assert ta[k].dtype == tb[k].dtype and torch.equal(ta[k], tb[k]), k
    assert summary(run_dir)["metrics"] == summary(ref_dir)["metrics"]
    return len(ta)


def max_abs_diff(run_dir: Path, ref_dir: Path, parts=("generator", "discriminator")) -> float:
    """The largest difference between the two final checkpoints' parameters."""
    a, b = checkpoint(run_dir), checkpoint(ref_dir)
    assert a["step"] == b["step"]
    worst = 0.0
    for part in parts:
        ta, tb = tensors(a["modules"][part]), tensors(b["modules"][part])
        assert ta.keys() == tb.keys() and ta
        worst = max(worst, *((ta[k].double() - tb[k].double()).abs().max().item() for k in ta))
    return worst


def log_text(*paths: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in paths if p.exists())


def stopped_steps(text: str) -> list[int]:
    """The steps the run stopped after, from gantrain's warnings."""
    return [int(s) for s in re.findall(r"stopped after step (\d+), checkpoint written", text)]


def resumed_steps(text: str) -> list[int]:
    return [int(s) for s in re.findall(r"resuming \S+ from step (\d+)", text)]
