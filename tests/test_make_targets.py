"""The paper targets' path end to end on a tiny grid: `make figN QUICK=1` runs the sweep with
Hydra's multirun, then gantrain-report writes the table, figures and summary."""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.report.test_html import assert_page
from tests.report.test_report import assert_png

ROOT = Path(__file__).resolve().parent.parent


def make(target: str, tmp_path: Path, sweep_args: str, *more: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = ["make", "-C", str(ROOT), target, "QUICK=1", f"VENV={Path(sys.executable).parent.parent}",
           f"RUNS={tmp_path / 'runs'}", f"REPORTS={tmp_path / 'reports'}",
           f"SWEEP_ARGS={sweep_args} logger=none", *more]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.long
@pytest.mark.trajectory
def test_fig5_quick_sweep_and_report(tmp_path):
    proc = make("fig5", tmp_path, "steps=60 log_every=20 checkpoint_every=60")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = sorted((tmp_path / "runs" / "fig5").glob("[0-9]*"))
    assert len(jobs) == 9                                   # μ ∈ {2, 4, 6} × 3 methods
    report = tmp_path / "reports" / "fig5"
    rows = list(csv.DictReader((report / "table.csv").open()))
    assert {r["method"] for r in rows} == {"simgd", "conopt", "jare"} and len(rows) == 9
    assert_png(report / "dynamics.png")
    assert "dist_equilibrium" in (report / "summary.md").read_text()


@pytest.mark.long
@pytest.mark.trajectory
def test_fig7_quick_sweep_and_report(tmp_path):
    proc = make("fig7", tmp_path, "steps=20 log_every=10 checkpoint_every=20 arch.width=8 "
                                  "eval.num_samples=64 eval.image_steps=[0,10,20]")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(list((tmp_path / "runs" / "fig7").glob("[0-9]*"))) == 5
    report = tmp_path / "reports" / "fig7"
    assert_png(report / "samples.png")
    assert_png(report / "modes.png")
    table = (report / "table.md").read_text()
    assert "conopt" in table and "jare" in table and "simgd" in table
    assert_page(report / "report.html", runs=5)     # the figures embedded, the 5 runs linked


@pytest.mark.long
def test_zoo_quick_runs_and_writes_its_html_report(tmp_path):
    """`make zoo QUICK=1` cut to two rules on two games and their phase diagrams: the report's
    summary, table and report.html."""
    proc = make("zoo", tmp_path, "steps=20 checkpoint_every=20", "ZOO_JOBS=1",
                "ZOO_ARGS=--methods simgd,jare --parts dirac,gaussian_mu2,phase")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = tmp_path / "reports" / "zoo"
    assert {r["method"] for r in csv.DictReader((report / "table.csv").open())} == {"simgd", "jare"}
    page = assert_page(report / "report.html", runs=6)   # 2 rules x 2 games + 2 phase diagrams
    assert len(page.tags["img"]) == 2                    # dynamics.png, stability.png


@pytest.mark.long
def test_digits_quick_benchmark_and_report(tmp_path):
    """`make digits QUICK=1` as CI runs it: five rules on the real stacked digits, each run's
    scored samples saved, and the report's table, curves, sample grids and one GIF per run. Which
    rule wins is a result (docs/results/digits.md), not a test."""
    proc = make("digits", tmp_path, "")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = sorted((tmp_path / "runs" / "digits").glob("[0-9]*"))
    assert len(jobs) == 5
    for job in jobs:
        saved = np.load(job / "samples" / "eval_samples.npz")
        assert saved["samples"].shape == (2000, 3, 16, 16) and int(saved["step"]) == 150
    report = tmp_path / "reports" / "digits"
    rows = list(csv.DictReader((report / "table.csv").open()))
    assert {r["method"] for r in rows} == {"simgd", "altgd", "conopt", "jare", "r1"}
    for r in rows:
        assert 1 <= float(r["modes_covered_mean"]) <= 1000 and float(r["digits_fd_mean"]) > 0
    for name in ("digits_metrics.png", "image_samples.png"):
        assert_png(report / name)
    gifs = sorted((report / "animations").glob("*.gif"))
    assert len(gifs) == 5
    from PIL import Image
    with Image.open(gifs[0]) as im:
        assert im.n_frames == 3   # the grids at steps 0, 75 and 150
    assert_page(report / "report.html", runs=5)     # the GIFs embedded too


@pytest.mark.parametrize("target", ["fig5", "fig6", "fig7", "fig8", "onesided", "spectra", "table1"])
def test_every_paper_target_is_listed_and_plans_a_sweep_and_a_report(target):
    out = subprocess.run(["make", "-C", str(ROOT), "-n", target, "QUICK=1"], capture_output=True,
                         text=True, check=True).stdout
    assert f" -m sweep={target} " in out and "gantrain-report" in out
    # the MoG figures train their grid as ensembles unless LAUNCHER says otherwise
    launcher = "ensemble" if target in ("fig7", "fig8") else "basic"
    assert f" launcher={launcher} " in out
    assert target in subprocess.run(["make", "-C", str(ROOT), "help"], capture_output=True,
                                    text=True, check=True).stdout


def test_every_documented_target_is_phony_and_figures_runs_every_toy_figure():
    """A target with a `##` help line is .PHONY (a file of its name would silently stop it), and
    `make figures` runs every toy target docs/papers.md lists, JARE App. C's check included."""
    text = (ROOT / "Makefile").read_text()
    phony = {t for line in text.splitlines() if line.startswith(".PHONY:") for t in line.split()[1:]}
    documented = {m.group(1) for m in re.finditer(r"^([a-z0-9_-]+):[^=\n]*##", text, re.MULTILINE)}
    assert "appc" in documented and documented <= phony, documented - phony
    out = subprocess.run(["make", "-C", str(ROOT), "-n", "figures", "QUICK=1"], capture_output=True,
                         text=True, check=True).stdout
    for target in ("fig5", "fig6", "fig7", "fig8", "onesided", "spectra"):
        assert f" -m sweep={target} " in out, target
    assert "-m gantrain.analysis.appc" in out
