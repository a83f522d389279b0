"""The zoo's report (gantrain/report/zoo/render.py over results.py) on the hand-made runs of
conftest.py, with every expected number worked out in the test: iterations to 10× closer, diverged
seeds, step-time ratios to SimGD, the phase-diagram summary, the files."""
from __future__ import annotations

import json
import math
import statistics

import pytest

from tests.report.test_report import assert_png


def test_iterations_to_ten_times_closer_per_seed_with_never_and_diverged(report):
    jare = report["rows"][("gaussian_mu2", "jare")]
    # seed 0: first value ≤ 1.0/10 is 0.1 at step 150; seed 1 never; seed 2 got there at 50.
    assert jare["ten_x_closer_steps"] == "150;never;50"
    conopt = report["rows"][("gaussian_mu2", "conopt")]
    assert conopt["ten_x_closer_steps"] == "100;100;never"
    assert report["rows"][("gaussian_mu2", "simgd")]["ten_x_closer_steps"] == "never;never;never"
    # The table: two of three seeds, mean of 150 and 50 with their range.
    line = next(ln for ln in report["md"].splitlines() if ln.startswith("| jare |")
                and "2/3 seeds" in ln)
    assert "2/3 seeds: 100 (50–150); else never" in line
    simgd_line = next(ln for ln in report["md"].splitlines() if ln.startswith("| simgd | — | 3/3"))
    assert "| never |" in simgd_line


def test_diverged_seeds_are_counted_and_left_out_of_the_final_distance(report):
    jare = report["rows"][("gaussian_mu2", "jare")]
    assert (jare["completed"], jare["diverged"], jare["failed"]) == ("2", "1", "0")
    # completed seeds 0 and 1 end at 0.02 and 0.12
    assert float(jare["dist_equilibrium_mean"]) == pytest.approx(0.07)
    assert float(jare["dist_equilibrium_std"]) == pytest.approx(math.sqrt(2 * 0.05 ** 2))
    assert "seed 2: diverged at 100" in jare["notes"]
    simgd = report["rows"][("gaussian_mu2", "simgd")]
    assert float(simgd["dist_equilibrium_mean"]) == pytest.approx(0.61)
    assert float(simgd["dist_equilibrium_std"]) == pytest.approx(statistics.stdev([0.6, 0.61, 0.62]))


def test_step_time_ratio_to_simgd_on_the_same_game(report):
    rows = report["rows"]
    assert float(rows[("gaussian_mu2", "simgd")]["ratio_to_simgd"]) == pytest.approx(1.0)
    # jare: mean(2.0, 2.6, 2.4) / mean(1.0, 1.2, 0.8); every run has step_time_ms
    assert float(rows[("gaussian_mu2", "jare")]["ratio_to_simgd"]) == pytest.approx(7.0 / 3.0)
    assert rows[("gaussian_mu2", "jare")]["step_time_exact"] == "True"
    # conopt lacks step_time_ms: wall_time_s / steps_done = 3.0 s / 200 and 3.0/200 and
    # 0.4 s / 100 (the diverged seed stopped at 100), in ms, marked as not exact
    want = statistics.fmean([3000 / 200, 3000 / 200, 400 / 100])
    assert float(rows[("gaussian_mu2", "conopt")]["step_time_ms_mean"]) == pytest.approx(want)
    assert float(rows[("gaussian_mu2", "conopt")]["ratio_to_simgd"]) == pytest.approx(want / 1.0)
    assert rows[("gaussian_mu2", "conopt")]["step_time_exact"] == "False"
    assert "≈" in next(ln for ln in report["md"].splitlines() if ln.startswith("| conopt |"))
    # DiracGAN: its own SimGD (2.0 ms) is the reference
    assert float(rows[("dirac", "jare")]["ratio_to_simgd"]) == pytest.approx(1.5)


def test_mog_modes_and_first_step_with_every_mode(report):
    jare = report["rows"][("mog_r2", "jare")]
    assert jare["all_modes_steps"] == "200;300"
    assert float(jare["modes_covered_mean"]) == 8
    assert float(jare["high_quality_fraction_mean"]) == pytest.approx(0.55)
    assert float(jare["high_quality_fraction_std"]) == pytest.approx(statistics.stdev([0.5, 0.6]))
    assert report["rows"][("mog_r2", "simgd")]["all_modes_steps"] == "never;never"


def test_phase_summary_reads_the_zoo_gamma_column(report):
    rows = report["rows"]
    jare = rows[("gaussian_mu2", "jare")]
    # shares over 9 points: 3 converged, 4 diverged, 2 too slow
    assert float(jare["phase_converged_share"]) == pytest.approx(3 / 9)
    assert float(jare["phase_diverged_share"]) == pytest.approx(4 / 9)
    # γ = 10 column (the zoo's γ): converged at 1e-3 and 1e-2, diverged at 0.1
    assert float(jare["phase_gamma"]) == 10
    assert float(jare["phase_max_converged_lr"]) == pytest.approx(1e-2)
    assert float(jare["phase_max_stable_lr_observed"]) == pytest.approx(1e-2)
    assert float(jare["lemma4_max_stable_lr"]) == pytest.approx(0.2)
    simgd = rows[("gaussian_mu2", "simgd")]   # one γ column, nothing converged
    assert simgd["phase_max_converged_lr"] == "" and float(simgd["phase_max_stable_lr_observed"]) == 1e-2
    assert float(simgd["lemma4_max_stable_lr"]) == pytest.approx(0.08)
    assert rows[("gaussian_mu2", "conopt")]["phase_error"] == "RuntimeError: boom"
    assert "phase diagram failed: RuntimeError: boom" in report["md"]



def test_report_files_tables_and_figures(report):
    md, out = report["md"], report["out"]
    for title in ("## Gaussian μ = 2", "## DiracGAN", "## MoG r = 2"):
        assert title in md
    assert md.index("## Gaussian μ = 2") < md.index("## DiracGAN") < md.index("## MoG r = 2")
    assert "γ = 10 for every rule that takes one" in md and "γ = 1 for every rule" in md
    assert "Python and autograd overhead" in md
    assert_png(out / "dynamics.png")
    assert_png(out / "stability.png", min_side=250)
    payload = json.loads((out / "zoo.json").read_text())
    assert {(r["game"], r["method"]) for r in payload["rows"]} == set(report["rows"])
