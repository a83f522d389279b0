"""A grid killed with kill -9 and run again in the same hydra.sweep.dir, on the local launchers
(basic: jobs one after another in the process; joblib: two worker processes): nothing finished is
touched, nothing runs twice, the job killed half way resumes at its own point. Then a changed
grid and a busy sweep directory, each one line with nothing changed. An Optuna search:
test_optuna_study.py; the SLURM launcher: tests/slurm/test_sweep_resume.py."""
from __future__ import annotations

import pytest

from tests.sweep.kill import check_resumed, gantrain, kill_midway, refused, run, snapshot, tree

LAUNCHERS = {"basic": (), "joblib": ("launcher=joblib",)}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_grid_killed_midway_resumes(tmp_path, launcher):
    sweep = tmp_path / "grid"
    cmd = gantrain(sweep, "seed=0,1,2", *LAUNCHERS[launcher])
    kill_midway(cmd, sweep, cwd=tmp_path)
    before = snapshot(sweep)
    run(cmd, cwd=tmp_path)
    by_status = check_resumed(sweep, before, n_jobs=3)
    assert set(by_status) <= {"done", "resumed"}


@pytest.mark.slow
def test_changed_grid_is_refused_in_one_line(tmp_path):
    from gantrain.sweep.record import record_job

    sweep = tmp_path / "grid"
    sweep.mkdir()
    for n, seed in enumerate((0, 1)):
        record_job(sweep, n, ["dataset=gaussian", f"seed={seed}"], "done", sweep / str(n))
    before = tree(sweep)
    line = refused(tmp_path, "dataset=gaussian", "seed=1,0,2", f"hydra.sweep.dir={sweep}")
    assert "was run with another grid: jobs 0, 1 had other overrides (job 0: [dataset=gaussian, " \
           "seed=0], now [dataset=gaussian, seed=1])" in line
    assert tree(sweep) == before and not (sweep / "2").exists()


@pytest.mark.slow
def test_a_sweep_dir_in_use_is_refused(tmp_path):
    from gantrain.rundir import RunDirLock

    sweep = tmp_path / "grid"
    lock = RunDirLock(sweep)
    lock.acquire()
    try:
        line = refused(tmp_path, "seed=0,1", f"hydra.sweep.dir={sweep}")
    finally:
        lock.release()
    assert f"hydra.sweep.dir={sweep} is in use by another gantrain sweep (host=" in line
