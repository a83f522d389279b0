"""Sweeps killed with kill -9 on the SLURM launcher (hydra-submitit-launcher), run again in the
same hydra.sweep.dir: a grid whose sweep and SLURM jobs are all killed (a node lost) resumes the
job killed half way and leaves the finished ones alone; an Optuna search whose `gantrain -m`
alone is killed (its SLURM jobs go on) waits for those jobs, tells their trials and continues its
study to n_trials in total. Nothing is lost or run twice. Local launchers: tests/sweep."""
from __future__ import annotations

import subprocess

from tests.slurm import cluster as C
from tests.slurm.conftest import observe
from tests.slurm.test_sweeps import SUBMITIT, _slurm_jobs
from tests.sweep.kill import SEARCH, check_resumed, check_study, gantrain, kill_midway, run, snapshot

pytestmark = C.needs_cluster


def _kill_jobs(sweep) -> list[str]:
    """Drop the sweep's pending SLURM jobs and kill -9 every process of its running ones (batch
    shell included), as a lost node would; the job ids."""
    ids = sorted({j.split("_")[0] for j in _slurm_jobs(sweep)})
    # SIGKILL to the running tasks first: cancelling the array's pending tasks before would
    # send its running ones SIGTERM, which gantrain answers with a checkpoint (not a kill -9).
    for args in (["--signal=KILL", "--full"], ["--state=PENDING"]):
        subprocess.run(["scancel", *args, *ids], capture_output=True, timeout=30)

    def gone():
        out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(ids)],
                             capture_output=True, text=True, timeout=30).stdout
        return not out.strip()

    C.wait_for(gone, f"SLURM jobs {ids} gone", timeout=120, poll=0.5)
    return ids


def test_grid_killed_with_its_jobs_resumes_on_slurm(tmp_path):
    sweep = tmp_path / "grid"
    cmd = gantrain(sweep, "seed=0,1,2", *SUBMITIT)
    kill_midway(cmd, sweep, cwd=tmp_path)
    killed = _kill_jobs(sweep)
    before = snapshot(sweep)
    run(cmd, cwd=tmp_path)
    by_status = check_resumed(sweep, before, n_jobs=3)
    observe(f"grid on SLURM killed (sweep and jobs {killed}): rerun resumed jobs "
            f"{by_status.get('resumed')}, left {[n for n, b in before.items() if b['finished']]} "
            "untouched")


def test_optuna_killed_midway_on_slurm(tmp_path):
    sweep = tmp_path / "search"
    cmd = gantrain(sweep, *SEARCH, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", *SUBMITIT)
    kill_midway([*cmd, "hydra.sweeper.sampler.seed=0"], sweep, cwd=tmp_path)
    before = snapshot(sweep)
    res = run([*cmd, "hydra.sweeper.sampler.seed=1"], cwd=tmp_path)
    mid = [n for n, b in before.items() if not b["finished"]]
    # The jobs of the killed sweep went on; what they had not finished by the kill they finish,
    # the rerun waits for them and runs nothing in their directories.
    check_resumed(sweep, snapshot_finished(before, sweep), n_jobs=4, went_on=True)
    check_study(sweep, n_trials=4)
    for n in mid:
        assert "nothing to do" in C.log_text(sweep / str(n) / "gantrain.log"), n
    observe(f"optuna on SLURM, gantrain -m killed with trials {mid} running: the rerun "
            f"{'waited for them, ' if 'waiting' in res.stderr else ''}told their values and "
            "ran the rest: 4 trials, 4 directories, each run once")


def snapshot_finished(before: dict, sweep) -> dict:
    """``before``, where the killed sweep's own jobs went on: its half-way jobs are compared by
    point only (their own job wrote their files after the snapshot)."""
    return {n: b if b["finished"] else {**b, "files": {}} for n, b in before.items()}
