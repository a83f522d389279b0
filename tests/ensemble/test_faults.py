"""An ensemble loses nothing to faults: SIGTERM stops every member at one step boundary with a
checkpoint each (status preempted, exit status 75), kill -9 at a random step loses at most the
steps since each member's last checkpoint, and rerunning resumes every member bit-identically to
an ensemble never stopped (every record, every tensor of the final checkpoints). Members whose
newest checkpoints are from different steps (a kill between two members' writes, a corrupt file)
resume each from its own step."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gantrain.ensemble import Ensemble, train_ensemble
from gantrain.train import EXIT_PREEMPTED, Preempted
from tests.ensemble.common import checkpoint, member_cfgs, records, summary

REPO = Path(__file__).resolve().parents[2]
RUN = ("method=jare", "steps=40", "log_every=5", "checkpoint_every=5")


def dirs(root: Path) -> list[Path]:
    return [root / f"member{i}" for i in range(3)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ensemble_reference")
    train_ensemble(member_cfgs(*RUN), dirs(root))
    return root


def assert_same_as(root: Path, ref: Path) -> None:
    for d, r in zip(dirs(root), dirs(ref)):
        assert records(d) == records(r)
        a, b = checkpoint(d), checkpoint(r)
        assert a.keys() == b.keys() and int(a["step"]) == 40
        for k in b:
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), (d, k)
        assert summary(d)["status"] == "completed"
        assert summary(d)["metrics"] == summary(r)["metrics"]


@pytest.mark.slow
def test_sigterm_checkpoints_every_member_then_resumes_bit_identically(tmp_path, reference,
                                                                       monkeypatch):
    step = Ensemble.step
    calls = []

    def signalling_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 13:   # mid-way between two checkpoints
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Ensemble, "step", signalling_step)
    with pytest.raises(Preempted) as stop:
        train_ensemble(member_cfgs(*RUN), dirs(tmp_path))
    assert stop.value.code == EXIT_PREEMPTED
    for d in dirs(tmp_path):
        s = summary(d)
        assert (s["status"], s["steps_done"], s["preempted_by"]) == ("preempted", 13, "SIGTERM")
        assert int(checkpoint(d)["step"]) == 13
    monkeypatch.setattr(Ensemble, "step", step)
    train_ensemble(member_cfgs(*RUN), dirs(tmp_path))
    assert_same_as(tmp_path, reference)


DRIVER = """
import sys
from pathlib import Path
from gantrain.ensemble import train_ensemble
from tests.ensemble.common import member_cfgs
root = Path(sys.argv[1])
train_ensemble(member_cfgs(*sys.argv[2:]), [root / f"member{i}" for i in range(3)])
"""


def start(root: Path) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(root), *RUN], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def logged(run_dir: Path) -> int:
    try:
        return max([r["step"] for r in records(run_dir)], default=0)
    except (OSError, ValueError):   # not there yet, or a line being written
        return 0


@pytest.mark.long
def test_kill_9_at_random_steps_then_resume_is_bit_identical(tmp_path, reference):
    rng = random.Random(20)
    for target in sorted(rng.sample(range(5, 36, 5), 2)):
        proc = start(tmp_path)
        deadline = time.time() + 300
        while logged(dirs(tmp_path)[2]) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        proc.kill()
        assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    proc = start(tmp_path)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-2000:]
    assert_same_as(tmp_path, reference)


@pytest.mark.slow
def test_members_resumed_from_different_steps(tmp_path, reference):
    # stop everyone at 20, then set member 1 back to its step-15 checkpoint (as a corrupt newest
    # file would): it trains 15→40 while the others wait for the ensemble to reach 20
    train_ensemble(member_cfgs(*RUN[:1], "steps=20", *RUN[2:]), dirs(tmp_path))
    ckpts = dirs(tmp_path)[1] / "checkpoints"
    (ckpts / "last.pt").write_bytes(b"torn")
    train_ensemble(member_cfgs(*RUN), dirs(tmp_path))
    assert (ckpts / "last.pt.corrupt").exists()
    assert_same_as(tmp_path, reference)
