"""A stop signal during gantrain's start (needs no cluster)."""
from __future__ import annotations

import subprocess

import pytest

from tests.slurm import cluster as C


@pytest.mark.slow
def test_signal_during_startup_stops_at_step_0(tmp_path):
    """A SIGUSR1 that comes while gantrain still imports (before the run's handlers) no longer
    kills it: the run stops at step 0 with a checkpoint and exit 75 (needs no cluster)."""
    run_dir = tmp_path / "run"
    code = ("import os, signal, sys; import gantrain.cli as c; real = c._main; "
            "c._main = lambda: (os.kill(os.getpid(), signal.SIGUSR1), real()); c.main()")
    res = subprocess.run([str(C.BIN / "python"), "-c", code, "dataset=gaussian", "steps=50",
                          "logger=none", "progress=false", f"hydra.run.dir={run_dir}"],
                         cwd=tmp_path, env=C.env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 75, res.stderr[-2000:]
    s = C.summary(run_dir)
    assert s["status"] == "preempted" and s["preempted_by"] == "SIGUSR1" and s["steps_done"] == 0
    assert C.checkpoint(run_dir)["step"] == 0


@pytest.mark.slow
def test_signal_after_the_run_does_not_kill_the_finished_process(tmp_path):
    """SLURM's time-limit signal may come while a run that just completed exits: the process still
    exits 0 (the job stays COMPLETED) instead of dying of SIGUSR1."""
    run_dir = tmp_path / "run"
    code = ("import os, signal; import gantrain.cli as c; c.main(); "
            "os.kill(os.getpid(), signal.SIGUSR1); print('alive after SIGUSR1')")
    res = subprocess.run([str(C.BIN / "python"), "-c", code, "dataset=gaussian", "steps=20",
                          "logger=none", "progress=false", f"hydra.run.dir={run_dir}"],
                         cwd=tmp_path, env=C.env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "alive after SIGUSR1" in res.stdout, res.stderr[-2000:]
    assert C.summary(run_dir)["status"] == "completed"
