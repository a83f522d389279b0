"""The zoo's plan (gantrain/conf/zoo.yaml read by gantrain/report/zoo/plan.py): the games' overrides,
the quick form, the jobs in queue order, and whether a rule gets the γ grid from its class."""
from __future__ import annotations

from pathlib import Path

import pytest

from gantrain.cli import CONFIG_DIR
from gantrain.report.zoo.plan import (
    Job,
    load_plan,
    make_jobs,
    phase_overrides,
    rule_names,
    uses_gamma,
)
from gantrain.rules import RULES


def test_the_plan_ships_with_the_configs():
    assert (Path(CONFIG_DIR) / "zoo.yaml").is_file()


def test_full_plan_games_seeds_and_phase_grid():
    plan = load_plan()
    assert plan.parts == ("mog_r2", "gaussian_mu2", "gaussian_mu4", "gaussian_mu6", "dirac", "phase")
    assert plan.gamma == 10.0 and plan.seeds == (0, 1, 2)
    assert plan.games["gaussian_mu4"] == ["experiment=gaussian_mu4", "gamma=10", "steps=5000",
                                          "log_every=50", "checkpoint_every=5000"]
    assert plan.games["dirac"] == ["dataset=dirac", "log_every=10", "checkpoint_every=2000"]
    assert plan.phase["mus"] == [2, 4, 6]
    assert (len(plan.phase["lrs"]), len(plan.phase["gammas"])) == (12, 8)


def test_quick_plan_appends_its_overrides_and_replaces_seeds_and_grid():
    full, quick = load_plan(), load_plan(quick=True)
    assert quick.seeds == (0,) and quick.gamma == full.gamma
    assert quick.games["mog_r2"] == [*full.games["mog_r2"], "steps=200", "log_every=50",
                                     "checkpoint_every=200"]
    assert quick.games["dirac"][-2:] == ["steps=300", "checkpoint_every=300"]
    assert quick.phase == {"mus": [6], "lrs": [1e-3, 1e-2, 0.1, 0.5], "gammas": [1.0, 10.0, 100.0],
                           "steps": 200, "boundary_points": 12}
    assert load_plan() == full    # the quick form leaves the full one as it was


def test_jobs_costly_first_with_the_commands_they_stand_for(tmp_path):
    plan = load_plan(quick=True)
    jobs = make_jobs(plan, tmp_path, ["simgd", "jare"], plan.parts, ["a=1"], ["b=2"], threads=1)
    assert [(j.game, j.method) for j in jobs[:3]] == [("mog_r2", "simgd"), ("mog_r2", "jare"),
                                                       ("gaussian_mu2", "simgd")]
    assert [j.kind for j in jobs].count("train") == 10 and jobs[-1].kind == "phase"
    dirac = next(j for j in jobs if j.game == "dirac" and j.method == "jare")
    assert dirac == Job("train", "dirac", "jare", "seed=0",
                        ["dataset=dirac", "log_every=10", "checkpoint_every=2000", "steps=300",
                         "checkpoint_every=300", "method=jare", "seed=0", "logger=none",
                         "progress=false", "a=1"], str(tmp_path / "dirac" / "jare" / "seed=0"), 1)
    assert dirac.command.startswith("gantrain dataset=dirac ")
    assert dirac.command.endswith(f" a=1 hydra.run.dir={tmp_path}/dirac/jare/seed=0")
    phase = jobs[-1]
    assert (phase.method, phase.label, phase.overrides[-1]) == ("jare", "mu=6", "b=2")
    assert phase.command.startswith("gantrain-analyze analysis.mode=phase experiment=gaussian_mu6 ")
    assert "phase.lrs=[0.001,0.01,0.1,0.5] phase.gammas=[1,10,100]" in phase.command
    seeds = make_jobs(plan, tmp_path, ["simgd"], ["dirac"], seeds=[3, 4])
    assert [j.label for j in seeds] == ["seed=3", "seed=4"]


@pytest.mark.parametrize("method", rule_names())
def test_gamma_grid_only_for_rules_whose_class_takes_a_gamma(method):
    overrides = phase_overrides(load_plan(), method, 2)
    gammas = next(o for o in overrides if o.startswith("phase.gammas="))
    assert uses_gamma(method) is RULES[method].uses_gamma
    assert gammas == ("phase.gammas=[0.1,0.3,1,3,10,30,100,300]" if RULES[method].uses_gamma
                      else "phase.gammas=[10]")


def test_a_rule_added_to_the_registry_is_read_from_its_class():
    class NoGamma(RULES["jare"]):
        uses_gamma = False

    RULES.add("zz_no_gamma", NoGamma)
    try:
        assert "zz_no_gamma" in rule_names() and not uses_gamma("zz_no_gamma")
        assert "phase.gammas=[10]" in phase_overrides(load_plan(), "zz_no_gamma", 6)
    finally:
        RULES.remove("zz_no_gamma")
    assert uses_gamma("not_registered")   # a run of a rule not installed here: taken to have one


def test_as_ensembles_groups_each_rules_seeds_where_the_ensemble_can_train_them(tmp_path):
    """Per (game, rule) one ensemble job holding its seeds' runs, at the place of the first; CGD
    (no vmapped form) and the phase diagrams unchanged; a group of one stays a plain run."""
    from gantrain.report.zoo.plan import as_ensembles, load_plan, make_jobs

    plan = load_plan(quick=True)
    jobs = make_jobs(plan, tmp_path, ["simgd", "cgd"], ["mog_r2", "phase"], seeds=[0, 1, 2])
    grouped = as_ensembles(jobs)
    kinds = [(j.kind, j.method, j.label) for j in grouped]
    assert kinds[0] == ("ensemble", "simgd", "seeds=0,1,2")
    assert [m.label for m in grouped[0].members] == ["seed=0", "seed=1", "seed=2"]
    assert [m.out for m in grouped[0].members] == [j.out for j in jobs[:3]]
    assert kinds[1:4] == [("train", "cgd", f"seed={s}") for s in range(3)]
    assert [j for j in grouped if j.kind == "phase"] == [j for j in jobs if j.kind == "phase"]
    single = as_ensembles(make_jobs(plan, tmp_path, ["simgd"], ["mog_r2"], seeds=[0]))
    assert [(j.kind, j.label) for j in single] == [("train", "seed=0")]


def test_as_ensembles_leaves_the_variance_corrected_estimate_to_single_runs(tmp_path):
    """A user's ``method.regularizer_estimate=variance_corrected`` has no vmapped form: the seeds'
    runs stay plain runs (they used to be grouped, and the ensemble failed); same_batch groups."""
    from dataclasses import replace

    from gantrain.report.zoo.plan import as_ensembles, load_plan, make_jobs

    jobs = make_jobs(load_plan(quick=True), tmp_path, ["jare"], ["mog_r2"], seeds=[0, 1])
    assert [j.kind for j in as_ensembles(jobs)] == ["ensemble"]
    vc = [replace(j, overrides=[*j.overrides, "method.regularizer_estimate=variance_corrected"])
          for j in jobs]
    assert [(j.kind, j.label) for j in as_ensembles(vc)] == [("train", "seed=0"), ("train", "seed=1")]
