"""`gantrain -m ... launcher=ensemble` end to end, in a subprocess as a user runs it: a grid of
seeds × γ for JARE packed into ensembles of hydra.launcher.size, a SimGD job (another rule, so
another group) and a CGD job (not packable) run as single runs; every job's directory holds the
ordinary run files, each member equals the single run of its settings to float32 round-off, and
gantrain-report reads the sweep like any other."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gantrain.ensemble import pack, pack_key
from gantrain.report.cli import main as report_main
from gantrain.train import train
from tests.ensemble.common import TINY, assert_same_trajectory, summary
from tests.helpers import make_cfg

REPO = Path(__file__).resolve().parents[2]
GRID = ("steps=20", "log_every=5", "checkpoint_every=10")


def gantrain(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "gantrain.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def test_pack_groups_compatible_jobs_in_order():
    keys = ["a", "b", "a", "a", "b", "c"]
    assert pack(keys, 2) == [[0, 2], [3], [1, 4], [5]]
    base = make_cfg(*TINY, "method=jare")
    assert pack_key(base) == pack_key(make_cfg(*TINY, "method=jare", "seed=3", "gamma=1", "eta=0.1"))
    assert pack_key(base) != pack_key(make_cfg(*TINY, "method=jare", "batch_size=64"))
    assert pack_key(base) != pack_key(make_cfg(*TINY, "method=conopt"))


@pytest.mark.long
def test_sweep_with_ensemble_launcher_writes_ordinary_runs(tmp_path):
    sweep = tmp_path / "sweep"
    res = gantrain("-m", "launcher=ensemble", "hydra.launcher.size=2", "logger=none",
                   "progress=false", *TINY, *GRID, "method=jare,simgd,cgd", "seed=0,1", "gamma=1,10",
                   f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    assert len(jobs) == 12
    for job in jobs:
        for name in ("config.yaml", "metrics.jsonl", "summary.json", ".hydra/overrides.yaml",
                     "checkpoints/last.pt"):
            assert (job / name).exists(), (job, name)
        assert summary(job)["status"] == "completed", summary(job)
    # sweep.json records every job, the ensemble members as the jobs run alone (cgd)
    record = json.loads((sweep / "sweep.json").read_text())["jobs"]
    assert sorted(record, key=int) == [j.name for j in jobs], record
    assert {(r["status"], r["run_status"], r["dir"]) for r in record.values()} == \
        {("done", "completed", j.name) for j in jobs}
    log = res.stderr + res.stdout
    assert log.count("(ensemble member)") == 8, log[-3000:]   # jare and simgd: 4 each
    assert "launching 12 jobs as 8 groups" in log   # 2 + 2 ensembles of 2, 4 single cgd runs
    assert "single run: method=cgd is invalid with launcher=ensemble" in log
    # every member is its single run (float32: round-off)
    for job in jobs:
        cfg = make_cfg(*(l.strip("- \n") for l in (job / ".hydra/overrides.yaml").read_text()
                         .splitlines() if l.startswith("- ") and not l.startswith("- hydra")))
        if cfg.method.name == "cgd":
            continue
        train(cfg, tmp_path / f"single{job.name}")
        assert_same_trajectory(job, tmp_path / f"single{job.name}", rtol=1e-4, atol=1e-6)
    # gantrain-report sees ordinary runs
    assert report_main([str(sweep), "--out", str(tmp_path / "report"), "--name", "ens"]) == 0
    table = (tmp_path / "report" / "ens" / "table.md").read_text()
    assert all(m in table for m in ("jare", "simgd", "cgd")), table
    # rerunning the sweep finds every run finished and leaves them as they are
    before = {j.name: (j / "summary.json").read_text() for j in jobs}
    res = gantrain("-m", "launcher=ensemble", "hydra.launcher.size=2", "logger=none",
                   "progress=false", *TINY, *GRID, "method=jare,simgd,cgd", "seed=0,1", "gamma=1,10",
                   f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert {j.name: (j / "summary.json").read_text() for j in jobs} == before
    assert json.loads(before["0"])["steps_done"] == 20


# What each rule accepts as its regularizer estimate, and what the ensemble vmaps: written out
# here from the rules' documentation (docs/methods.md §3, §8), not read from the rule classes.
ESTIMATES = ("same_batch", "unbiased", "variance_corrected")
ACCEPTS = {**{m: ESTIMATES for m in ("conopt", "jare", "conopt_g", "conopt_d", "jare_g", "jare_d",
                                     "gradnorm")},
           "sga": ("same_batch", "unbiased"),
           **{m: ("same_batch",) for m in ("extragradient", "optimistic", "r1", "r2", "cgd")},
           "simgd": (), "altgd": ()}   # no regularizer_estimate key at all
VMAPPED_RULES = ("simgd", "conopt", "jare", "conopt_g", "conopt_d", "jare_g", "jare_d", "gradnorm",
                 "sga", "r1", "r2")
VMAPPED_ESTIMATES = ("same_batch", "unbiased")


@pytest.mark.slow   # 14 rules x 3 estimates composed, per launcher
@pytest.mark.parametrize("launcher", ["basic", "joblib", "slurm", "ensemble"])
def test_every_rule_and_estimate_under_every_launcher(launcher):
    """A job is refused by every launcher alike when its rule does not take the estimate; the
    other launchers run every accepted job on its own; launcher=ensemble packs exactly the
    rules and estimates that run over members and names the rule or the estimate otherwise."""
    from gantrain.config import validate
    from gantrain.ensemble import train_ensemble
    from gantrain.ensemble.launcher import member_problem
    from gantrain.errors import ConfigError
    from gantrain.rules import RULES

    assert set(ACCEPTS) == set(RULES)   # a new rule needs its row here
    for rule in RULES:
        for estimate in ESTIMATES:
            args = (*TINY, f"launcher={launcher}", f"method={rule}",
                    f"method.regularizer_estimate={estimate}")
            if estimate not in ACCEPTS[rule]:
                with pytest.raises(Exception, match="regularizer_estimate"):
                    validate(make_cfg(*args))
                continue
            cfg = make_cfg(*args)
            validate(cfg)
            if launcher != "ensemble":
                continue
            why = member_problem(cfg)
            if rule in VMAPPED_RULES and estimate in VMAPPED_ESTIMATES:
                assert why is None, (rule, estimate, why)
            elif rule not in VMAPPED_RULES:
                assert why.startswith(f"method={rule} is invalid with launcher=ensemble"), why
            else:
                assert why.startswith(f"method.regularizer_estimate={estimate} is invalid with "
                                      "launcher=ensemble"), why
            if why:   # and the ensemble itself refuses it in one line, before writing anything
                with pytest.raises(ConfigError, match="invalid with launcher=ensemble"):
                    train_ensemble([cfg, cfg], [Path("/nonexistent/a"), Path("/nonexistent/b")])
    assert "variance_corrected" not in VMAPPED_ESTIMATES


@pytest.mark.slow
def test_jobs_the_ensemble_cannot_express_run_on_their_own(tmp_path):
    """The issue's sweep: JARE with the variance-corrected estimate is not packed (it used to be,
    and both members failed); it runs as single runs, the reason in each job's log line, beside
    the same-batch jobs that are packed."""
    sweep = tmp_path / "sweep"
    res = gantrain("-m", "launcher=ensemble", "logger=none", "progress=false", *TINY, "steps=4",
                   "log_every=2", "method=jare",
                   "method.regularizer_estimate=same_batch,variance_corrected", "seed=0,1",
                   f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stderr + res.stdout
    assert "launching 4 jobs as 3 groups" in log, log[-3000:]
    assert log.count("(ensemble member)") == 2
    assert log.count("(single run: method.regularizer_estimate=variance_corrected is invalid with "
                     "launcher=ensemble") == 2, log[-3000:]
    for job in ("0", "1", "2", "3"):
        assert summary(sweep / job)["status"] == "completed", summary(sweep / job)


@pytest.mark.slow
@pytest.mark.parametrize("args,fragment", [
    (("method=sga", "method.regularizer_estimate=variance_corrected", "seed=0,1"),
     "method.regularizer_estimate='variance_corrected' is invalid: allowed: same_batch, unbiased"),
    (("hydra.launcher.size=0", "seed=0,1"), "hydra.launcher.size=0 is invalid: must be an integer"),
], ids=["no-job-runs", "size"])
def test_nothing_to_run_is_refused_in_one_line_before_any_work(tmp_path, args, fragment):
    sweep = tmp_path / "sweep"
    res = gantrain("-m", "launcher=ensemble", "logger=none", "progress=false", *TINY, "steps=4", *args,
                   f"hydra.sweep.dir={sweep}")
    lines = res.stderr.splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-3000:]
    assert lines[0].startswith("gantrain: error: ") and fragment in lines[0], lines
    assert not sweep.exists()
