"""A hand-made zoo folder (three rules on the Gaussian game, two on the DiracGAN and the MoG, phase
diagrams at μ = 2, one of them failed) and its report, shared by the tests of this folder."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gantrain.report.zoo.render import build_report
from tests.report.zoo.runs import write_phase, write_run

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
    result = build_report(zoo_root, out)
    rows = {(r["game"], r["method"]): r for r in csv.DictReader((out / "table.csv").open())}
    return {"out": out, "result": result, "rows": rows, "md": (out / "summary.md").read_text()}
