"""The zoo's aggregation (gantrain/report/zoo.py) on small run directories written here by hand, with
every expected number worked out in the test: iterations to 10× closer, diverged seeds, step-time
ratios to SimGD, the phase-diagram summary; then one tiny `zoo run` + `zoo report` end to end."""
from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
from pathlib import Path

import pytest
import yaml

from gantrain.report import zoo
from tests.report.test_report import assert_png

ROOT = Path(__file__).resolve().parents[2]


def write_run(path: Path, *, dataset: str, method: str, seed: int, series: dict[str, list],
              status: str = "completed", step_time_ms: float | None = None,
              wall_time_s: float = 1.0, gamma: float = 10.0, mu: float = 2.0,
              log_every: int = 50) -> None:
    """A finished run as gantrain leaves it: config.yaml, metrics.jsonl (one record per logged
    step, null for a non-finite value) and summary.json (final metrics = the last record)."""
    path.mkdir(parents=True)
    data = {"name": dataset, **({"mu": mu, "sigma": 0.2} if dataset == "gaussian" else {}),
            **({"modes": 8, "radius": 2.0} if dataset == "mog" else {})}
    steps = [i * log_every for i in range(len(next(iter(series.values()))))]
    cfg = {"dataset": data, "method": {"name": method}, "gamma": gamma, "seed": seed,
           "steps": steps[-1], "log_every": log_every, "batch_size": 128,
           "optim": {"name": "sgd", "lr": 1e-3}, "eta": 1e-3}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    records = [{"step": s, **{k: v[i] for k, v in series.items()}} for i, s in enumerate(steps)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = {"status": status, "steps_done": steps[-1], "wall_time_s": wall_time_s,
               "diverged_at": steps[-1] if status == "diverged" else None, "method": method,
               "gamma": gamma, "seed": seed,
               "metrics": {k: v for k, v in records[-1].items() if k != "step"}}
    if step_time_ms is not None:
        summary["step_time_ms"] = step_time_ms
    (path / "summary.json").write_text(json.dumps(summary))


def write_phase(path: Path, method: str, mu: float, lrs, gammas, classes, bound) -> None:
    path.mkdir(parents=True)
    (path / "phase.json").write_text(json.dumps({
        "method": method, "dataset": {"name": "gaussian", "mu": mu, "sigma": 0.2},
        "lrs": lrs, "gammas": gammas, "classes": classes, "steps": 1000, "tol": 0.01,
        "diverge_factor": 10.0, "lemma4": {"at_grid_gammas": bound, "agreement": 1.0},
        "timings": {"grid_s": 2.0, "boundary_s": 0.5}}))


# Gaussian μ = 2, three seeds per method. dist_equilibrium starts at 1.0, so "10× closer" is the
# first logged value ≤ 0.1 (logged every 50 steps).
JARE_DIST = {0: [1.0, 0.5, 0.11, 0.1, 0.02],       # 0.1 at step 150 (≤ is inclusive)
             1: [1.0, 0.5, 0.2, 0.15, 0.12],       # never within the 200 steps
             2: [1.0, 0.09, None]}                  # 10× closer at 50, then diverged
SIMGD_DIST = {s: [1.0, 0.9, 0.8, 0.7, 0.6 + 0.01 * s] for s in range(3)}
CONOPT_DIST = {0: [1.0, 0.5, 0.05, 0.02, 0.02], 1: [1.0, 0.5, 0.05, 0.04, 0.04],
               2: [1.0, 3.0, None]}                 # diverged without getting closer
STEP_MS = {"simgd": [1.0, 1.2, 0.8], "jare": [2.0, 2.6, 2.4], "conopt": [None, None, None]}
CONOPT_WALL = [3.0, 3.0, 0.4]                       # fallback: wall_time_s / steps_done (ms)


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("zoo")
    for method, dists in (("simgd", SIMGD_DIST), ("jare", JARE_DIST), ("conopt", CONOPT_DIST)):
        for seed, dist in dists.items():
            status = "diverged" if dist[-1] is None else "completed"
            write_run(root / "gaussian_mu2" / method / f"seed={seed}", dataset="gaussian",
                      method=method, seed=seed, series={"dist_equilibrium": dist}, status=status,
                      step_time_ms=STEP_MS[method][seed], wall_time_s=CONOPT_WALL[seed])
    # The DiracGAN: SimGD 2.0 ms, JARE 3.0 ms per step: its ratio is its own game's.
    for method, ms, dist in (("simgd", 2.0, [1.4, 1.5, 1.6]), ("jare", 3.0, [1.4, 0.2, 0.1])):
        write_run(root / "dirac" / method / "seed=0", dataset="dirac", method=method, seed=0,
                  series={"dist_equilibrium": dist}, step_time_ms=ms, gamma=1.0, log_every=10)
    # MoG: every mode at step 100 (seed 0) and 200 (seed 1) for JARE; SimGD never all 8.
    for seed, modes in enumerate(([0, 3, 8], [0, 2, 6, 8])):
        write_run(root / "mog_r2" / "jare" / f"seed={seed}", dataset="mog", method="jare",
                  seed=seed, series={"modes_covered": modes,
                                     "high_quality_fraction": [0.0] * (len(modes) - 1) + [0.5 + 0.1 * seed]},
                  step_time_ms=20.0, log_every=100)
        write_run(root / "mog_r2" / "simgd" / f"seed={seed}", dataset="mog", method="simgd",
                  seed=seed, series={"modes_covered": [0, 1, 2],
                                     "high_quality_fraction": [0.0, 0.1, 0.2]},
                  step_time_ms=10.0, log_every=100)
    # Phase diagrams at μ = 2: JARE on 3 lrs × 3 γ; SimGD on one γ column; ConOpt failed.
    write_phase(root / "phase" / "jare" / "mu=2", "jare", 2.0, [1e-3, 1e-2, 1e-1], [1.0, 10.0, 100.0],
                [["too_slow", "converged", "too_slow"],
                 ["converged", "converged", "diverged"],
                 ["diverged", "diverged", "diverged"]], [0.5, 0.2, 0.05])
    write_phase(root / "phase" / "simgd" / "mu=2", "simgd", 2.0, [1e-3, 1e-2, 1e-1], [10.0],
                [["too_slow"], ["too_slow"], ["diverged"]], [0.08])
    err = root / "phase" / "conopt" / "mu=2"
    err.mkdir(parents=True)
    (err / "error.json").write_text(json.dumps({"method": "conopt", "mu": 2.0,
                                                "error": "RuntimeError: boom"}))
    return root


@pytest.fixture(scope="module")
def report(zoo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo_report")
    result = zoo.build_report(zoo_root, out)
    rows = {(r["game"], r["method"]): r for r in csv.DictReader((out / "table.csv").open())}
    return {"out": out, "result": result, "rows": rows, "md": (out / "summary.md").read_text()}


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
    # a γ between grid columns reads the nearest column on a log scale
    ph = zoo.phase_summary({"lrs": [1.0], "gammas": [1.0, 100.0], "classes": [["converged",
                                                                               "diverged"]],
                            "lemma4": {"at_grid_gammas": [0.3, 0.1]}}, 5.0)   # log10: 0.7 from 1, 1.3 from 100
    assert ph["gamma"] == 1.0 and ph["max_converged_lr"] == 1.0 and ph["lemma4_max_stable_lr"] == 0.3


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


@pytest.mark.trajectory
def test_tiny_zoo_run_and_report_end_to_end(tmp_path, capsys):
    """Two rules on the DiracGAN (20 steps) and their quick phase diagrams, in this process; the
    report's 10× step is recomputed here from metrics.jsonl."""
    runs = tmp_path / "runs"
    code = zoo.main(["run", str(runs), "--methods", "simgd,jare", "--parts", "dirac,phase",
                     "--quick", "--jobs", "1", "steps=20", "checkpoint_every=20"])
    assert code == 0
    for m in ("simgd", "jare"):
        assert json.loads((runs / "dirac" / m / "seed=0" / "summary.json").read_text())[
            "status"] == "completed"
        assert (runs / "phase" / m / "mu=6" / "phase.json").is_file()
        cmd = (runs / "dirac" / m / "seed=0" / "command.txt").read_text()
        assert cmd.startswith("gantrain dataset=dirac") and f"method={m}" in cmd
    assert json.loads((runs / "zoo_run.json").read_text())["jobs"][0]["cpu_s"] > 0
    assert zoo.main(["report", str(runs), "--out", str(tmp_path / "report")]) == 0
    rows = {r["method"]: r for r in csv.DictReader((tmp_path / "report" / "table.csv").open())
            if r["game"] == "dirac"}
    records = [json.loads(ln) for ln in (runs / "dirac" / "jare" / "seed=0" / "metrics.jsonl")
               .read_text().splitlines()]
    start = records[0]["dist_equilibrium"]
    assert start == pytest.approx(math.sqrt(2))          # the DiracGAN starts at (1, 1)
    first = next((r["step"] for r in records if r["dist_equilibrium"] <= start / 10), None)
    assert rows["jare"]["ten_x_closer_steps"] == ("never" if first is None else str(first))
    assert rows["jare"]["gamma"] == "1.0" and rows["simgd"]["gamma"] == ""
    # a second run finds everything finished and redoes nothing
    capsys.readouterr()
    assert zoo.main(["run", str(runs), "--methods", "simgd", "--parts", "phase", "--quick",
                     "--jobs", "1"]) == 0
    assert "done before" in capsys.readouterr().out


@pytest.mark.parametrize("args, bad", [
    (["--methods", "simgd,nosuch"], "--methods=simgd,nosuch"),
    (["--parts", "gaussian"], "--parts=gaussian"),
    (["--seeds", "a"], "--seeds=a"),
    (["--jobs", "0"], "--jobs=0"),
    (["nosuchkey=1"], "nosuchkey"),
])
def test_bad_input_is_refused_in_one_line_before_any_work(tmp_path, capsys, args, bad):
    assert zoo.main(["run", str(tmp_path / "runs"), "--quick", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and bad in err, err
    assert not (tmp_path / "runs").exists()


def test_make_zoo_plans_the_run_and_the_report_and_is_listed():
    out = subprocess.run(["make", "-C", str(ROOT), "-n", "zoo", "QUICK=1"], capture_output=True,
                         text=True, check=True).stdout
    assert "gantrain.report.zoo run outputs/multirun-quick/zoo" in out and "--quick" in out
    assert "gantrain.report.zoo report outputs/multirun-quick/zoo --out outputs/report-quick/zoo" in out
    full = subprocess.run(["make", "-C", str(ROOT), "-n", "zoo"], capture_output=True, text=True,
                          check=True).stdout
    assert "--quick" not in full
    assert "zoo" in subprocess.run(["make", "-C", str(ROOT), "help"], capture_output=True,
                                   text=True, check=True).stdout
