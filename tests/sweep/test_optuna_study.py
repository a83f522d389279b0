"""An Optuna search (`gantrain -m hydra/sweeper=optuna`) killed with kill -9 and run again in the
same hydra.sweep.dir, on the local launchers: its study continues from optuna.db to n_trials in
total, trial k in job directory k, the trial killed half way resumed at its own point, nothing
run twice. Then the bad input of an Optuna sweep directory, each one line with nothing changed.
The SLURM launcher: tests/slurm/test_sweep_resume.py."""
from __future__ import annotations

import os

import pytest

from tests.sweep.kill import (
    SEARCH,
    check_resumed,
    check_study,
    gantrain,
    kill_midway,
    refused,
    run,
    snapshot,
    tree,
)

LAUNCHERS = {"basic": (), "joblib": ("launcher=joblib",)}


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
    before = tree(sweep)
    line = refused(tmp_path, *SEARCH, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}")
    assert msg in line and "untouched" in line
    assert tree(sweep) == before


@pytest.mark.slow
def test_another_study_name_in_the_same_dir_is_refused(tmp_path):
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")   # as gantrain.sweep does
    import optuna

    sweep = tmp_path / "search"
    sweep.mkdir()
    optuna.create_study(study_name="gantrain", storage=f"sqlite:///{sweep}/optuna.db")
    before = tree(sweep)
    line = refused(tmp_path, *SEARCH, "hydra.sweeper.study_name=other", f"hydra.sweep.dir={sweep}")
    assert "hydra.sweeper.study_name=other is invalid" in line and "holds the study gantrain" in line
    assert tree(sweep) == before
