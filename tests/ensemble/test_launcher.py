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
