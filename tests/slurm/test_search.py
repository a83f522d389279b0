"""Hyperparameter search with Optuna (`gantrain -m hydra/sweeper=optuna`): every trial's value is
its own summary's `search.objective`; the best trial Optuna reports is the best of those; a
diverged run is the worst value and a failed run a failed trial, and the search goes on. Runs
here, and on the SLURM launcher in test_sweeps.py."""
from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
import yaml

from gantrain.errors import ConfigError
from gantrain.search import sweeper_overrides, trial_value
from tests.slurm import cluster as C
from tests.slurm.conftest import observe

SEARCH = ("hydra/sweeper=optuna", "hydra.sweeper.n_trials=6", "dataset=gaussian", "method=jare",
          "steps=200", "log_every=100", "checkpoint_every=200", "logger=none", "progress=false")


def run_search(sweep_dir: Path, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    res = subprocess.run([str(C.BIN / "gantrain"), "-m", *SEARCH, f"hydra.sweep.dir={sweep_dir}",
                          *overrides], cwd=cwd, env=C.env(), capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def trials(sweep_dir: Path) -> list[dict]:
    """Each trial's parameters (its .hydra/overrides.yaml) and its own summary.json."""
    out = []
    for d in sorted(p for p in sweep_dir.iterdir() if p.name.isdigit()):
        over = dict(o.split("=", 1) for o in yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text()))
        out.append({"gamma": float(over["gamma"]), "eta": float(over["eta"]), **C.summary(d)})
    return out


def check_best(sweep_dir: Path, direction: str, objective: str = "dist_equilibrium") -> dict:
    """Optuna's best trial is the best completed trial by the trials' own summaries."""
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    done = [t for t in trials(sweep_dir) if t["status"] == "completed"]
    pick = min if direction == "minimize" else max
    best = pick(done, key=lambda t: t["metrics"][objective])
    assert results["best_value"] == best["metrics"][objective]
    assert results["best_params"] == {"gamma": best["gamma"], "eta": best["eta"]}
    return best


@pytest.mark.long
def test_optuna_grid_search_best_is_the_best_summary(tmp_path):
    """A grid over γ and η, 3 x 2 = 6 trials; η = 1000 diverges on the Gaussian game."""
    sweep = tmp_path / "search"
    run_search(sweep, "hydra/sweeper/sampler=grid", "gamma=choice(0.5,2,10)", "eta=choice(0.02,1000)",
               "search.objective=dist_equilibrium", "search.direction=minimize", cwd=tmp_path)
    ts = trials(sweep)
    assert sorted((t["gamma"], t["eta"]) for t in ts) == sorted(
        (g, e) for g in (0.5, 2, 10) for e in (0.02, 1000))            # the whole grid, once each
    assert {t["status"] for t in ts if t["eta"] == 0.02} == {"completed"}
    diverged = [t for t in ts if t["status"] == "diverged"]
    assert diverged and all(t["eta"] == 1000 for t in diverged)   # not chosen: the worst value
    best = check_best(sweep, "minimize")
    observe(f"optuna (basic launcher): 6 trials, {len(diverged)} diverged (worst), best "
            f"gamma={best['gamma']} eta={best['eta']} "
            f"dist_equilibrium={best['metrics']['dist_equilibrium']:.4g} = the best summary's")


def test_trial_value_diverged_is_worst_failed_is_no_value():
    cfg = {"search": {"objective": "dist_equilibrium", "direction": "minimize"}}
    done = {"status": "completed", "metrics": {"dist_equilibrium": 0.25, "loss_d": 1.0}}
    assert trial_value(cfg, done) == 0.25
    assert trial_value(cfg, {"status": "diverged", "metrics": {}}) == math.inf
    up = {"search": {"objective": "loss_d", "direction": "maximize"}}
    assert trial_value(up, done) == 1.0
    assert trial_value(up, {"status": "diverged", "metrics": {}}) == -math.inf
    for status in ("failed", "preempted"):
        assert trial_value(cfg, {"status": status, "metrics": {}}) is None
    assert trial_value(cfg, None) is None
    with pytest.raises(ConfigError, match="search.objective=modes_covered is invalid.*dist_equilibrium"):
        trial_value({"search": {"objective": "modes_covered", "direction": "minimize"}}, done)


class _Master(dict):
    """A composed master config's two sections that sweeper_overrides reads."""

    def __getattr__(self, k):
        return self[k]


def test_sweeper_follows_search_direction():
    master = _Master(search={"objective": "x", "direction": "maximize"},
                     hydra=_Master(sweeper=_Master(direction="minimize")))
    assert sweeper_overrides(master, [], set()) == [
        "hydra.sweeper.direction=maximize", "hydra.sweeper.max_failure_rate=1.0"]
    with pytest.raises(ConfigError, match="hydra.sweeper.direction=minimize is invalid"):
        sweeper_overrides(master, [], {"hydra.sweeper.direction"})
    assert sweeper_overrides(master, [], {"hydra.sweeper.max_failure_rate"}) == [
        "hydra.sweeper.direction=maximize"]


@pytest.mark.parametrize("bad,msg", [
    ("search.direction=up", "search.direction=up is invalid: allowed: minimize, maximize"),
    ("hydra.sweeper.direction=maximize", "hydra.sweeper.direction=maximize is invalid with "
                                         "search.direction=minimize"),
])
def test_bad_search_settings_are_one_line(tmp_path, bad, msg):
    res = subprocess.run([str(C.BIN / "gantrain"), "-m", "hydra/sweeper=optuna", "gamma=choice(1,2)",
                          bad], cwd=tmp_path, env=C.env(), capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert msg in res.stderr
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "outputs").exists()
