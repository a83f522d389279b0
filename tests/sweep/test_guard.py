"""Checks before a sweep continues in its directory (gantrain.sweep.guard): a changed grid in one
line naming its jobs, more jobs or more steps allowed, an older gantrain's directory said in one
line and continued."""
from __future__ import annotations

import pytest

from gantrain.errors import ConfigError
from gantrain.sweep.guard import check_grid
from gantrain.sweep.record import record_job

GRID = [["method=simgd", "seed=0"], ["method=simgd", "seed=1"], ["method=jare", "seed=0"]]


def _recorded(sweep, jobs):
    for n, job in enumerate(jobs):
        record_job(sweep, n, job, "done", sweep / str(n))


def test_the_same_grid_more_jobs_or_more_steps_pass(tmp_path):
    _recorded(tmp_path, GRID)
    check_grid(tmp_path, GRID)
    check_grid(tmp_path, GRID[:2])
    check_grid(tmp_path, [*GRID, ["method=jare", "seed=1"]])
    check_grid(tmp_path, [[*job, "steps=5000", "progress=false"] for job in GRID])


def test_a_changed_grid_names_its_jobs_in_one_line(tmp_path):
    _recorded(tmp_path, GRID)
    new = [["method=simgd", "seed=0"], ["method=jare", "seed=0"], ["method=simgd", "seed=1"]]
    with pytest.raises(ConfigError) as e:
        check_grid(tmp_path, new)
    msg = str(e.value)
    assert "\n" not in msg
    assert (f"hydra.sweep.dir={tmp_path} was run with another grid: jobs 1, 2 had other "
            "overrides (job 1: [method=simgd, seed=1], now [method=jare, seed=0])") in msg


def test_an_older_gantrains_grid_is_read_from_its_job_dirs(tmp_path, capsys):
    for n, job in enumerate(GRID):
        (tmp_path / str(n) / ".hydra").mkdir(parents=True)
        (tmp_path / str(n) / ".hydra" / "overrides.yaml").write_text(
            "".join(f"- {o}\n" for o in job))
    check_grid(tmp_path, GRID)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "written by an older gantrain (no sweep.json)" in err
    with pytest.raises(ConfigError, match="jobs 0, 2 had other overrides"):
        check_grid(tmp_path, GRID[::-1][:2] + [GRID[1]])
