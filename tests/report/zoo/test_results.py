"""The zoo's runs read back (gantrain/report/zoo/results.py): games and rules in report order, the
γ column from the rule's class, the phase-diagram summary at a γ between grid columns."""
from __future__ import annotations

from gantrain.report.collect import collect
from gantrain.report.zoo.results import Game, make_cells, phase_summary, read_phases


def test_cells_by_game_then_rule_simgd_first_and_gamma_only_for_rules_with_one(zoo_root):
    games = make_cells([r for r in collect(zoo_root) if r.kind == "train"])
    assert list(games) == [Game("gaussian", mu=2.0), Game("dirac"), Game("mog", radius=2.0)]
    gauss = games[Game("gaussian", mu=2.0)]
    assert [c.method for c in gauss] == ["simgd", "conopt", "jare"]
    # every run has gamma=10 in its config; SimGD's class says it takes no γ
    assert {c.method: c.gamma for c in gauss} == {"simgd": None, "conopt": 10.0, "jare": 10.0}
    assert [k.key for k in games] == ["gaussian_mu2", "dirac", "mog_r2"]


def test_read_phases_takes_diagrams_and_failures(zoo_root):
    phases = read_phases(zoo_root)
    assert set(phases) == {("jare", 2.0), ("simgd", 2.0), ("conopt", 2.0)}
    assert phases[("conopt", 2.0)]["error"] == "RuntimeError: boom"


def test_phase_summary_reads_the_nearest_gamma_column_on_a_log_scale():
    # γ = 5: log10 distance 0.7 from 1, 1.3 from 100
    ph = phase_summary({"lrs": [1.0], "gammas": [1.0, 100.0], "classes": [["converged", "diverged"]],
                        "lemma4": {"at_grid_gammas": [0.3, 0.1]}}, 5.0)
    assert ph["gamma"] == 1.0 and ph["max_converged_lr"] == 1.0 and ph["lemma4_max_stable_lr"] == 0.3
    assert phase_summary({"error": "boom"}, 10.0) == {"error": "boom"}
