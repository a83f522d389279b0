"""Sweeps through hydra-submitit-launcher on the cluster: a 3-job grid read back by gantrain-report,
and an Optuna search whose trials are SLURM jobs."""
from __future__ import annotations

import subprocess

from tests.slurm import cluster as C
from tests.slurm.conftest import observe
from tests.slurm.test_search import check_best, run_search, trials

pytestmark = C.needs_cluster

SUBMITIT = ("launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.gpus_per_node=null", "hydra.launcher.timeout_min=10")


def _slurm_jobs(sweep_dir) -> list[str]:
    """The SLURM job ids of a submitit sweep: its array tasks (<array>_<index>), else its jobs."""
    names = [p.name for p in (sweep_dir / ".submitit").iterdir() if p.name[0].isdigit()]
    tasks = [n for n in names if "_" in n]
    return sorted(tasks or names)


def test_submitit_grid_and_report(tmp_path):
    sweep = tmp_path / "grid"
    res = subprocess.run(
        [str(C.BIN / "gantrain"), "-m", *SUBMITIT, "progress=false", "logger=none",
         "dataset=gaussian", "method=simgd,conopt,jare", "steps=300", "log_every=100",
         "checkpoint_every=300", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, env=C.env(), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = _slurm_jobs(sweep)
    assert len(jobs) == 3
    states = {j: C.wait_job(j, timeout=120)["JobState"] for j in jobs}   # past COMPLETING
    assert set(states.values()) == {"COMPLETED"}, states
    methods = sorted(C.summary(sweep / str(i))["method"] for i in range(3))
    assert methods == ["conopt", "jare", "simgd"]
    rep = subprocess.run([str(C.BIN / "gantrain-report"), str(sweep), "--name", "grid", "--out",
                          str(tmp_path / "report")], cwd=tmp_path, env=C.env(),
                         capture_output=True, text=True, timeout=600)
    assert rep.returncode == 0, rep.stderr[-3000:]
    text = (tmp_path / "report" / "grid" / "summary.md").read_text()
    assert "3 training runs (3 completed, 0 diverged, 0 failed)" in text
    observe(f"submitit grid: SLURM jobs {jobs} COMPLETED; gantrain-report: 3 completed")


def test_optuna_search_on_slurm(tmp_path):
    """Six trials as SLURM jobs, two at a time, maximizing; γ = -1 is refused by each of its
    trials: failed trials, and the search goes on. (Random sampling: Optuna's grid sampler raises
    when the grid's last trial fails, a hydra-optuna-sweeper bug.)"""
    sweep = tmp_path / "search"
    run_search(sweep, *SUBMITIT, "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0",
               "gamma=choice(0.5,2,-1)", "eta=choice(0.02,1000)",
               "search.objective=dist_equilibrium", "search.direction=maximize", cwd=tmp_path)
    ts = trials(sweep)
    assert len(ts) == 6 and len(_slurm_jobs(sweep)) == 6
    failed = [t for t in ts if t["status"] == "failed"]
    assert failed and failed == [t for t in ts if t["gamma"] == -1]
    assert all("gamma" in t["error"] for t in failed)
    best = check_best(sweep, "maximize")
    observe(f"optuna on SLURM (maximize): 6 trials as 6 jobs, {len(failed)} failed (gamma=-1), "
            f"{sum(t['status'] == 'diverged' for t in ts)} diverged, best gamma={best['gamma']} "
            f"eta={best['eta']} = the best completed summary")
