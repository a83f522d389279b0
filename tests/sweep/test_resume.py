"""A sweep killed with kill -9 and run again in the same hydra.sweep.dir, on the local launchers
(basic: jobs one after another in the process; joblib: two worker processes): nothing finished is
touched, nothing runs twice, the job killed half way resumes at its own point, and an Optuna
study continues from its storage to n_trials in total. Then the bad input of a sweep directory,
each in one line with nothing changed. The SLURM launcher: tests/slurm/test_sweep_resume.py."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.slurm import cluster as C
from tests.sweep.kill import SEARCH, check_resumed, check_study, gantrain, kill_midway, run, snapshot

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
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_optuna_killed_midway_continues_its_study(tmp_path, launcher):
    """The rerun samples with another seed: continuing does not rest on the sampler proposing
    the same points again. A third run with the same n_trials runs nothing."""
    sweep = tmp_path / "search"
    n_jobs = "2" if launcher == "joblib" else "1"
    cmd = gantrain(sweep, *SEARCH, "hydra.sweeper.n_trials=4", f"hydra.sweeper.n_jobs={n_jobs}",
                   *LAUNCHERS[launcher])
    kill_midway([*cmd, "hydra.sweeper.sampler.seed=0"], sweep, cwd=tmp_path)
    before = snapshot(sweep)
    run([*cmd, "hydra.sweeper.sampler.seed=1"], cwd=tmp_path)
    check_resumed(sweep, before, n_jobs=4)
    check_study(sweep, n_trials=4)
    done = snapshot(sweep)
    res = run([*cmd, "hydra.sweeper.sampler.seed=2"], cwd=tmp_path)
    assert "Launching" not in res.stdout + res.stderr and snapshot(sweep) == done
    assert (sweep / "optimization_results.yaml").exists()


def _refused(tmp_path, *args: str) -> str:
    """Run ``gantrain -m`` expecting a one-line refusal (exit 2); the line."""
    res = subprocess.run([str(C.BIN / "gantrain"), "-m", *args], cwd=tmp_path, env=C.env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr[-3000:]
    return res.stderr.strip()


def _tree(path):
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_changed_grid_is_refused_in_one_line(tmp_path):
    from gantrain.sweep.record import record_job

    sweep = tmp_path / "grid"
    sweep.mkdir()
    for n, seed in enumerate((0, 1)):
        record_job(sweep, n, ["dataset=gaussian", f"seed={seed}"], "done", sweep / str(n))
    before = _tree(sweep)
    line = _refused(tmp_path, "dataset=gaussian", "seed=1,0,2", f"hydra.sweep.dir={sweep}")
    assert "was run with another grid: jobs 0, 1 had other overrides (job 0: [dataset=gaussian, " \
           "seed=0], now [dataset=gaussian, seed=1])" in line
    assert _tree(sweep) == before and not (sweep / "2").exists()


@pytest.mark.slow
@pytest.mark.parametrize("content,msg", [
    (b"not a database, just bytes" * 100, "optuna.db is unreadable (file is not a database)"),
    (None, "holds 1 trials of an Optuna search but no optuna.db (an older gantrain's search"),
])
def test_bad_study_dir_is_one_line(tmp_path, content, msg):
    sweep = tmp_path / "search"
    (sweep / "0" / ".hydra").mkdir(parents=True)
    (sweep / "0" / ".hydra" / "overrides.yaml").write_text("- gamma=2\n- eta=0.05\n")
    if content is not None:
        (sweep / "optuna.db").write_bytes(content)
    before = _tree(sweep)
    line = _refused(tmp_path, *SEARCH, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}")
    assert msg in line and "untouched" in line
    assert _tree(sweep) == before


@pytest.mark.slow
def test_a_sweep_dir_in_use_is_refused(tmp_path):
    from gantrain.rundir import RunDirLock

    sweep = tmp_path / "grid"
    lock = RunDirLock(sweep)
    lock.acquire()
    try:
        line = _refused(tmp_path, "seed=0,1", f"hydra.sweep.dir={sweep}")
    finally:
        lock.release()
    assert f"hydra.sweep.dir={sweep} is in use by another gantrain sweep (host=" in line


@pytest.mark.slow
def test_another_study_name_in_the_same_dir_is_refused(tmp_path):
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")   # as gantrain.sweep does
    import optuna

    sweep = tmp_path / "search"
    sweep.mkdir()
    optuna.create_study(study_name="gantrain", storage=f"sqlite:///{sweep}/optuna.db")
    before = _tree(sweep)
    line = _refused(tmp_path, *SEARCH, "hydra.sweeper.study_name=other", f"hydra.sweep.dir={sweep}")
    assert "hydra.sweeper.study_name=other is invalid" in line and "holds the study gantrain" in line
    assert _tree(sweep) == before
