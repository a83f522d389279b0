"""Faults survived with nothing lost: kill -9 at random steps and in the middle of a checkpoint
write, SIGTERM/SIGUSR1 preemption (checkpoint, exit status 75, requeue), unreadable checkpoints, a
full disk, two processes in one run directory, and values JSON cannot hold.

Every resumed run is compared with one never stopped: metrics.jsonl records equal, every tensor of
the final checkpoint bit-identical. Subprocesses only where a process must really die or exit."""
from __future__ import annotations

import errno
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.figure
import pytest
import torch
from omegaconf import OmegaConf

import gantrain.recorder as recorder_mod
import gantrain.run_parts as run_parts_mod
import gantrain.train as train_mod
from gantrain.errors import ConfigError
from gantrain.jsonl import read_jsonl
from gantrain.train import EXIT_PREEMPTED, Preempted, train
from tests.helpers import make_cfg

REPO = Path(__file__).resolve().parent.parent
# The brief's tiny MoG game: ~60 steps in a second or two when the machine is idle.
TINY = ("dataset.modes=3", "arch.depth=1", "arch.width=8", "arch.z_dim=2", "eval.num_samples=64",
        "eval.image_steps=[]", "checkpoint_every=5", "log_every=5")
STEPS = 60


# --- helpers ---------------------------------------------------------------------------------
def run(run_dir, *overrides):
    return train(make_cfg(*TINY, f"steps={STEPS}", *overrides), run_dir)


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def last_ckpt(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def assert_same_run(run_dir, ref_dir):
    """Same records (wall time aside, there is none in them) and a bit-identical final state."""
    assert records(run_dir) == records(ref_dir)
    a, b = last_ckpt(run_dir), last_ckpt(ref_dir)
    assert a["step"] == b["step"] == STEPS
    for part in ("generator", "discriminator", "opt_g", "opt_d"):
        flat_a, flat_b = _tensors(a["modules"][part]), _tensors(b["modules"][part])
        assert flat_a.keys() == flat_b.keys() and flat_a, part
        for k in flat_a:
            assert flat_a[k].dtype == flat_b[k].dtype, (part, k)
            assert torch.equal(flat_a[k], flat_b[k]), (part, k)
    assert summary(run_dir)["status"] == "completed"
    assert summary(run_dir)["metrics"] == summary(ref_dir)["metrics"]


def _tensors(tree, prefix="") -> dict[str, torch.Tensor]:
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_tensors(v, f"{prefix}{k}."))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(_tensors(v, f"{prefix}{i}."))
    elif isinstance(tree, torch.Tensor):
        out[prefix] = tree
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The run never stopped."""
    d = tmp_path_factory.mktemp("reference") / "run"
    run(d)
    return d


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "SLURM_JOB_ID")}
    e.update(WANDB_MODE="disabled", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return e


def start_cli(run_dir, *overrides) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gantrain.cli", *TINY, f"steps={STEPS}", "logger=none",
         "progress=false", f"hydra.run.dir={run_dir}", *overrides],
        cwd=run_dir.parent, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logged_step(run_dir) -> int:
    recs = read_jsonl(run_dir / "metrics.jsonl")
    return recs[-1]["step"] if recs else -1


def wait_until_logged(proc, run_dir, step, timeout=180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if logged_step(run_dir) >= step:
            return
        if proc.poll() is not None:
            raise AssertionError(f"exited ({proc.returncode}) before step {step}: "
                                 f"{proc.stderr.read()[-2000:]}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"step {step} not logged within {timeout} s")


class StepHook:
    """Calls ``hook(n)`` at the start of the n-th train_step of every Trainer built meanwhile."""

    def __init__(self, monkeypatch, hook):
        real_build = train_mod.build_rule
        self.calls = 0

        def build(*args, **kwargs):
            rule = real_build(*args, **kwargs)
            inner = rule.train_step

            def train_step(*a, **k):
                self.calls += 1
                hook(self.calls)
                return inner(*a, **k)

            rule.train_step = train_step
            return rule

        monkeypatch.setattr(train_mod, "build_rule", build)


def signal_at(monkeypatch, sig, at):
    """Deliver ``sig`` to this process in the middle of step ``at``."""
    return StepHook(monkeypatch, lambda n: os.kill(os.getpid(), sig) if n == at else None)


# --- kill -9 ---------------------------------------------------------------------------------
@pytest.mark.long
def test_kill_9_at_random_steps_then_resume_is_bit_identical(tmp_path, reference):
    d = tmp_path / "run"
    rng = random.Random(10)
    target = 0
    for _ in range(3):
        # Past every record already on disk, so that only the new process can satisfy it.
        target = max(target, logged_step(d)) + rng.randint(4, 12)
        proc = start_cli(d)
        wait_until_logged(proc, d, target)
        proc.kill()
        assert proc.wait() == -signal.SIGKILL   # killed, not finished
        assert (d / ".lock").is_file()            # left behind by the dead process
    assert logged_step(d) < STEPS and not (d / "summary.json").exists()
    run(d)   # takes the dead process's lock over and resumes from its last checkpoint
    assert_same_run(d, reference)
    assert not (d / ".lock").exists()


CRASHING_WRITER = """
import io, os, signal, sys
import gantrain.checkpoint as c
from gantrain.train import train
from tests.helpers import make_cfg

real_save, saves = c.torch.save, []

def save_then_die(obj, f):
    saves.append(1)
    if len(saves) == 3:   # the third checkpoint: half of it, then a hard kill
        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    real_save(obj, f)

c.torch.save = save_then_die
train(make_cfg(*sys.argv[2:]), sys.argv[1])
"""


@pytest.mark.slow
def test_kill_9_during_a_checkpoint_write_leaves_no_torn_checkpoint(tmp_path, reference):
    d = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(d), *TINY, f"steps={STEPS}"],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    ckpts = d / "checkpoints"
    torn = [p for p in ckpts.iterdir() if p.name.endswith(".tmp")]
    assert len(torn) == 1 and torn[0].stat().st_size > 0   # the half-written file, not last.pt
    assert last_ckpt(d)["step"] == 10                       # the second checkpoint, whole
    assert sorted(p.name for p in ckpts.iterdir() if p.suffix == ".pt") == \
        ["last.pt", "step_00000005.pt"]

    run(d)
    assert_same_run(d, reference)
    assert not [p for p in ckpts.iterdir() if p.name.endswith(".tmp")]   # cleaned on resume


# --- preemption ------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_checkpoints_exits_75_and_the_rerun_is_bit_identical(tmp_path, reference):
    d = tmp_path / "run"
    proc = start_cli(d)
    wait_until_logged(proc, d, 17)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_PREEMPTED, err[-2000:]
    assert "Traceback" not in err
    s = summary(d)
    stopped = s["steps_done"]
    assert s["status"] == "preempted" and s["preempted_by"] == "SIGTERM" and stopped >= 17
    assert last_ckpt(d)["step"] == stopped        # the step it stopped at, not the last 5-step one
    assert logged_step(d) <= stopped
    assert not (d / ".lock").exists()

    run(d)
    assert_same_run(d, reference)


@pytest.mark.slow
@pytest.mark.parametrize("sig,requeue,requeued", [
    (signal.SIGUSR1, "true", True),
    (signal.SIGUSR1, "false", False),
    (signal.SIGTERM, "true", False),   # a scancel must stay a cancel
], ids=["usr1", "usr1-requeue-false", "term"])
def test_preemption_in_process_with_slurm_requeue(tmp_path, monkeypatch, reference, sig, requeue,
                                                   requeued):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "scontrol_calls"
    (bindir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bindir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    before = signal.getsignal(sig)

    d = tmp_path / "run"
    with monkeypatch.context() as m:
        hook = signal_at(m, sig, 23)
        with pytest.raises(Preempted) as e:
            run(d, f"requeue={requeue}")
    assert e.value.code == EXIT_PREEMPTED and e.value.step == 23
    assert hook.calls == 23                 # step 23 finished, step 24 never started
    assert last_ckpt(d)["step"] == 23
    assert summary(d)["status"] == "preempted" and summary(d)["steps_done"] == 23
    assert signal.getsignal(sig) == before  # the process's own handling is back
    assert (calls.read_text().split() if calls.exists() else []) == \
        (["requeue", "4242"] if requeued else [])

    monkeypatch.delenv("SLURM_JOB_ID")
    run(d)
    assert_same_run(d, reference)


def test_submitit_handler_runs_after_the_checkpoint(tmp_path, monkeypatch):
    """In a submitit job the launcher's handler (which requeues and exits) is deferred to the step
    boundary: when it runs, the checkpoint at the stopped step and summary.json are on disk."""
    d = tmp_path / "run"
    seen = []

    def submitit_like(signum, frame):
        seen.append((signum, last_ckpt(d)["step"], summary(d)["status"]))
        sys.exit(-1)

    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.delenv("SUBMITIT_PREEMPT_SIGNAL", raising=False)
    old = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        signal_at(monkeypatch, signal.SIGUSR2, 12)
        with pytest.raises(SystemExit) as e:
            run(d)
        assert e.value.code == -1
        assert seen == [(signal.SIGUSR2, 12, "preempted")]
        assert signal.getsignal(signal.SIGUSR2) is submitit_like
    finally:
        signal.signal(signal.SIGUSR2, old)


# --- unreadable checkpoints ------------------------------------------------------------------
def test_a_truncated_last_checkpoint_falls_back_and_stays_consistent(tmp_path, reference, caplog,
                                                                    monkeypatch):
    d = tmp_path / "run"
    run(d, "steps=47")                  # last.pt: step 47, step_00000045.pt kept; logged up to 47
    assert logged_step(d) == 47
    last = d / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    hook = StepHook(monkeypatch, lambda n: None)
    with caplog.at_level(logging.WARNING, logger="gantrain"):
        run(d)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "last.pt" in warnings[0] and "\n" not in warnings[0]
    assert hook.calls == STEPS - 45     # resumed at 45, the record at 47 dropped and redone
    assert (d / "checkpoints" / "last.pt.corrupt").is_file()
    assert_same_run(d, reference)


def test_no_readable_checkpoint_is_one_config_error(tmp_path):
    """A ConfigError: the CLI prints its one line and exits with status 2."""
    d = tmp_path / "run"
    run(d, "steps=10")
    for p in (d / "checkpoints").iterdir():
        p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(ConfigError) as e:
        run(d, "steps=20")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"no readable checkpoint in {d / 'checkpoints'}")
    assert "resume=false" in msg
    assert summary(d)["status"] == "failed" and "no readable checkpoint" in summary(d)["error"]


# --- a full disk -----------------------------------------------------------------------------
def enospc_error():
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def full_disk_from(monkeypatch, at_step, write):
    """From step ``at_step`` on, ``write`` (a patcher) makes writes fail with ENOSPC."""
    state = {"full": False}

    def hook(n):
        if n == at_step:
            state["full"] = True
    StepHook(monkeypatch, hook)
    write(monkeypatch, state)


def replace_fails(monkeypatch, state):
    real = os.replace

    def replace(src, dst, *a, **k):
        if state["full"] and Path(dst).parent.name == "checkpoints":
            raise enospc_error()
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "replace", replace)


def append_fails(monkeypatch, state):
    real = Path.open

    def open_(self, mode="r", *a, **k):
        if state["full"] and self.name == "metrics.jsonl" and "a" in mode:
            raise enospc_error()
        return real(self, mode, *a, **k)
    monkeypatch.setattr(Path, "open", open_)


def savefig_fails(monkeypatch, state):
    real = matplotlib.figure.Figure.savefig

    def savefig(self, *a, **k):
        if state["full"]:
            raise enospc_error()
        return real(self, *a, **k)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)


@pytest.mark.slow
@pytest.mark.parametrize("write,named,steps_done,kept", [
    (replace_fails, "checkpoints/last.pt", 15, 10),   # full from step 12: the checkpoint at 15
    (append_fails, "metrics.jsonl", 15, 10),          # the record at 15 fails
    (savefig_fails, "images", STEPS, 55),             # the final sample picture fails
], ids=["checkpoint", "metrics", "images"])
def test_a_full_disk_ends_the_run_failed_in_one_line(tmp_path, monkeypatch, reference, write,
                                                      named, steps_done, kept):
    d = tmp_path / "run"
    with monkeypatch.context() as m:
        full_disk_from(m, 12, write)
        with pytest.raises(ConfigError) as e:
            run(d)
    msg = str(e.value)
    assert "\n" not in msg and str(d / named) in msg and "No space left on device" in msg
    s = summary(d)
    assert s["status"] == "failed" and s["steps_done"] == steps_done
    assert str(d / named) in s["error"]
    assert last_ckpt(d)["step"] == kept   # the previous checkpoint is intact
    assert not [p for p in (d / "checkpoints").iterdir() if p.name.endswith(".tmp")]

    run(d)   # room again: resuming gives the run never stopped
    assert_same_run(d, reference)


def test_summary_that_cannot_be_written_is_said_in_one_line(tmp_path, monkeypatch, capsys):
    d = tmp_path / "run"

    def write_json(path, obj):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(recorder_mod, "write_json", write_json)
    full_disk_from(monkeypatch, 7, replace_fails)
    with pytest.raises(ConfigError, match="last.pt"):
        run(d, "steps=20")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(d / "summary.json") in err[0] and "failed at step 10" in err[0]
    assert not (d / "summary.json").exists()


# --- two processes ---------------------------------------------------------------------------
LOCK_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"host=elsewhere pid=%d" % os.getpid())
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_process_is_refused_and_a_dead_holder_is_taken_over(tmp_path, reference):
    """Refused with a ConfigError (one line, exit status 2 from the CLI) naming the holder."""
    d = tmp_path / "run"
    d.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(d / ".lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError) as e:
            run(d)
        msg = str(e.value)
        assert "\n" not in msg and str(d) in msg and f"pid={holder.pid}" in msg
        assert sorted(p.name for p in d.iterdir()) == [".lock"]   # nothing written
    finally:
        holder.kill()
        holder.wait()
    run(d)   # the holder died with its lock: the run goes ahead
    assert_same_run(d, reference)
    assert not (d / ".lock").exists()


# --- values JSON cannot hold -----------------------------------------------------------------
def test_an_infinite_gamma_is_written_as_null(tmp_path, monkeypatch):
    """Writing never fails on a value (whether validation lets gamma=inf through or not)."""
    real = run_parts_mod.validate   # every check but gamma's

    def lenient(cfg):
        checked = real(OmegaConf.merge(cfg, {"gamma": 0.0}))
        checked.sections["gamma"] = cfg.gamma   # the run reads the checked config: inf
        return checked
    monkeypatch.setattr(run_parts_mod, "validate", lenient)
    d = tmp_path / "run"
    out = run(d, "steps=5", "gamma=inf")     # simgd ignores gamma
    text = (d / "summary.json").read_text()
    s = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))
    assert s == out and s["status"] == "completed" and s["gamma"] is None
