"""gantrain-report on small real sweeps: a Gaussian grid (3 methods × μ ∈ {2, 6} × 2 seeds), a
diverged run, a job that failed before writing anything, a run that failed with no metrics, tiny
MoG runs, tiny image runs and gantrain-analyze spectra, laid out as Hydra multiruns."""
from __future__ import annotations

import csv
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from gantrain.report.cli import build_report, main
from gantrain.train import train
from tests.helpers import make_cfg

REPORT = Path(sys.executable).parent / "gantrain-report"
METHODS = ("simgd", "conopt", "jare")
MUS = (2, 6)
SEEDS = (0, 1)
GAUSS = ("dataset=gaussian", "steps=300", "eta=1e-2", "log_every=10", "checkpoint_every=300")
MOG = ("dataset=mog", "arch.width=8", "arch.depth=1", "eval.num_samples=128",
       "eval.image_steps=[0,20]", "steps=40", "log_every=10", "checkpoint_every=40")
IMAGES = ("dataset=fake_images", "arch.filters=8", "steps=4", "eval.every=2", "eval.num_samples=64",
          "eval.force_fid=true", "dataset.size=64", "batch_size=16", "checkpoint_every=4")
FAKE_SCORES = {0: (1.5, 300.0), 2: (1.8, 250.0), 4: (2.0, 210.0)}   # (IS, FID) written into one run
GAUSS_METRICS = ("dist_equilibrium", "dist_generator", "dist_discriminator")


def fake_hydra_job(job: Path, cfg, overrides: list[str]) -> None:
    """What Hydra leaves in a job directory before the task function runs."""
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, job / ".hydra" / "config.yaml")          # unresolved, like Hydra's
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The runs, built once per test session: under pytest-xdist the workers share them (the first
    one builds them under a file lock in the session's temporary folder; the others read them)."""
    from filelock import FileLock

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = tmp_path_factory.getbasetemp()
    base = base.parent if worker else base              # pytest-N/ is shared by a session's workers
    root = base / "report_runs"
    with FileLock(str(base / "report_runs.lock")):
        if not (root / "done").exists():
            build_sweep(root)
            (root / "done").write_text("")
    return {"root": root, "failed_job": root / "gaussian" / str(len(MUS) * len(METHODS) * len(SEEDS)),
            "gauss": {key: root / "gaussian" / str(i) for i, key in enumerate(
                (mu, m, s) for mu in MUS for m in METHODS for s in SEEDS)},
            "diverged": json.loads((root / DIVERGING / "summary.json").read_text())}


DIVERGING = Path("extra") / "diverging" / "0"


def build_sweep(root: Path) -> None:
    # gaussian/<job>: the grid, then one job that failed before writing anything (jare, μ = 6, seed 2)
    job = 0
    for mu in MUS:
        for method in METHODS:
            for seed in SEEDS:
                s = train(make_cfg(*GAUSS, f"method={method}", f"dataset.mu={mu}", f"seed={seed}"),
                          root / "gaussian" / str(job))
                assert s["status"] == "completed"
                job += 1
    fake_hydra_job(root / "gaussian" / str(job),
                   make_cfg(*GAUSS, "method=jare", "dataset.mu=6", "seed=2"),
                   ["method=jare", "dataset.mu=6", "seed=2"])
    # another sweep, one folder deeper: a run that diverges
    s = train(make_cfg("dataset=gaussian", "method=simgd", "loss=wgan", "eta=1", "steps=300",
                       "log_every=10"), root / DIVERGING)
    assert s["status"] == "diverged"
    # mog/<job>: tiny MoG runs, and a run that failed with no metrics at all
    for i, (method, seed) in enumerate((m, s) for m in ("simgd", "jare") for s in SEEDS):
        train(make_cfg(*MOG, f"method={method}", f"seed={seed}"), root / "mog" / str(i))
    nometrics = root / "mog" / "4"
    nometrics.mkdir()
    OmegaConf.save(make_cfg(*MOG, "method=conopt"), nometrics / "config.yaml", resolve=True)
    (nometrics / "summary.json").write_text(json.dumps({
        "status": "failed", "steps_done": 0, "diverged_at": None, "wall_time_s": 0.1,
        "method": "conopt", "gamma": 10.0, "eta": 1e-3, "seed": 0, "metrics": {},
        "error": "RuntimeError: out of memory"}))
    # images/<job>: tiny image runs (no Inception weights here: scores missing); one run is given
    # made-up scores so that the score curves have something to draw
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(root / "no_torch_home"))
        for i, method in enumerate(("simgd", "jare")):
            train(make_cfg(*IMAGES, f"method={method}"), root / "images" / str(i))
    metrics = root / "images" / "0" / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    for r in records:
        if r["step"] in FAKE_SCORES:
            r["inception_score"], r["fid"] = FAKE_SCORES[r["step"]]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = json.loads((root / "images" / "0" / "summary.json").read_text())
    summary["metrics"]["inception_score"], summary["metrics"]["fid"] = FAKE_SCORES[4]
    (root / "images" / "0" / "summary.json").write_text(json.dumps(summary))
    # spectra/<job>: gantrain-analyze results (spectrum.json and Hydra's record of the config)
    from gantrain.analyze import spectrum_at
    from gantrain.tracking import write_json
    for i, (mu, method) in enumerate((mu, m) for mu in MUS for m in METHODS):
        cfg = make_cfg("dataset=gaussian", f"method={method}", f"dataset.mu={mu}")
        job = root / "spectra" / str(i)
        fake_hydra_job(job, cfg, [f"method={method}", f"dataset.mu={mu}"])
        write_json(job / "spectrum.json", spectrum_at(cfg))


def summaries(paths) -> list[dict]:
    return [json.loads((p / "summary.json").read_text()) for p in paths]


def metric_series(run: Path, key: str) -> tuple[list[int], list[float]]:
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in recs if r.get(key) is not None], [r[key] for r in recs
                                                                  if r.get(key) is not None]


def assert_png(path: Path, min_side: int = 300) -> None:
    import matplotlib.image

    assert path.is_file(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000, path
    img = matplotlib.image.imread(path)
    assert min(img.shape[:2]) >= min_side, img.shape
    assert float(img[..., :3].std()) > 0.02, f"{path} is nearly blank"


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def gaussian_report(sweep, tmp_path_factory):
    """The console script on the Gaussian sweep, as a user runs it."""
    out = tmp_path_factory.mktemp("report")
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    res = subprocess.run([str(REPORT), str(sweep["root"] / "gaussian"), "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return out / "gaussian", res


@pytest.mark.long
def test_console_script_writes_the_gaussian_report(gaussian_report):
    d, res = gaussian_report
    assert "wrote" in res.stdout
    for name in ("table.md", "table.csv", "summary.md", "dynamics.png"):
        assert (d / name).is_file(), name
    # only the figures that apply
    for name in ("samples.png", "modes.png", "spectra.png", "image_metrics.png", "image_samples.png",
                 "losses.png"):
        assert not (d / name).exists(), name
    assert_png(d / "dynamics.png")


@pytest.mark.long
def test_table_counts_and_means_match_the_runs(sweep, gaussian_report):
    d, _ = gaussian_report
    rows = read_csv(d / "table.csv")
    assert len(rows) == len(MUS) * len(METHODS)
    for row in rows:
        mu, method = float(row["dataset.mu"]), row["method"]
        failed = int(method == "jare" and mu == 6)        # the job that never wrote anything
        assert (int(row["runs"]), int(row["completed"]), int(row["diverged"]),
                int(row["failed"])) == (len(SEEDS) + failed, len(SEEDS), 0, failed)
        runs = summaries(sweep["gauss"][(int(mu), method, s)] for s in SEEDS)
        for key in GAUSS_METRICS:
            values = [r["metrics"][key] for r in runs]
            assert math.isclose(float(row[f"{key}_mean"]), statistics.fmean(values), rel_tol=1e-12)
            assert math.isclose(float(row[f"{key}_std"]), statistics.stdev(values), rel_tol=1e-9)
            assert int(row[f"{key}_n"]) == len(SEEDS)
        assert float(row["steps_done_mean"]) == 300
        if failed:
            assert "failed (no summary)" in row["not_completed"]
    table = (d / "table.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| dataset.mu"))
    assert "| method |" in header and "| seed |" not in header      # seed is averaged over
    assert "seed 2: failed (no summary)" in table
    assert "do not enter the means" in table                          # the footnote


def first_10x_closer(run: Path) -> int | None:
    steps, values = metric_series(run, "dist_equilibrium")
    return next((s for s, v in zip(steps, values) if v <= values[0] / 10), None)


@pytest.mark.long
def test_summary_states_the_measured_numbers(sweep, gaussian_report):
    d, _ = gaussian_report
    text = (d / "summary.md").read_text()
    assert "dynamics.png" in text and "## Checks" in text
    blocks = text.split("**μ = ")[1:]
    assert len(blocks) == len(MUS)
    for mu, block in zip(MUS, blocks):
        assert block.startswith(f"{mu}")
        finals = []
        for method in METHODS:
            runs = summaries(sweep["gauss"][(mu, method, s)] for s in SEEDS)
            mean = statistics.fmean(r["metrics"]["dist_equilibrium"] for r in runs)
            finals.append(f"{method} {mean:.4g}")
        assert f"- Final ‖w − w*‖: {', '.join(finals)}." in block
        # fastest to 10× closer than the start, from metrics.jsonl independently
        reached = {}
        for method in METHODS:
            steps = [first_10x_closer(sweep["gauss"][(mu, method, s)]) for s in SEEDS]
            if all(s is not None for s in steps):
                reached[method] = statistics.fmean(steps)
        if reached:
            best = min(reached, key=reached.get)
            assert f"Fastest to 10× closer than its start: **{best}** (iteration {reached[best]:.0f}" in block
        else:
            assert "No method got 10× closer" in block
        grew = []
        for method in METHODS:
            ratios = []
            for s in SEEDS:
                _, v = metric_series(sweep["gauss"][(mu, method, s)], "dist_equilibrium")
                ratios.append(max(v) / v[0])
            if max(ratios) > 10:
                grew.append(method)
        if grew:
            line = next(x for x in block.splitlines() if x.startswith("- Grew more than 10×"))
            assert all(m in line for m in grew) and not any(
                f"{m} (" in line for m in set(METHODS) - set(grew))
        else:
            assert "No method's distance grew more than 10×" in block
        assert "No run diverged." in block


@pytest.mark.long
def test_mixed_folder_of_sweeps(sweep, tmp_path):
    """Every kind of run at once, in-process: nothing crashes, every section and figure is there."""
    result = build_report(sweep["root"], tmp_path, name="all")
    d = result["dir"]
    assert d == tmp_path / "all"
    for name in ("dynamics.png", "samples.png", "modes.png", "image_metrics.png",
                 "image_samples.png", "losses.png", "spectra.png"):
        assert_png(d / name)
    table = (d / "table.md").read_text()
    div = sweep["diverged"]
    assert f"diverged at {div['diverged_at']}" in table
    for section in ("## gaussian", "## mog", "## fake_images", "## spectra (gaussian)"):
        assert section in table
    assert "failed at step 0: RuntimeError: out of memory" in table
    rows = read_csv(d / "table.csv")
    by = {(r["dataset"], r["method"], r.get("loss.name", ""), r.get("dataset.mu", "")): r for r in rows}
    wgan = by[("gaussian", "simgd", "wgan", "2")]
    assert (wgan["runs"], wgan["completed"], wgan["diverged"], wgan["failed"]) == ("1", "0", "1", "0")
    assert wgan["dist_equilibrium_mean"] == ""                   # a diverged run is not averaged
    nometrics = by[("mog", "conopt", "", "")]
    assert (nometrics["runs"], nometrics["failed"], nometrics["modes_covered_n"]) == ("1", "1", "0")
    mog = by[("mog", "jare", "", "")]
    modes = [json.loads((sweep["root"] / "mog" / str(i) / "summary.json").read_text())
             ["metrics"]["high_quality_fraction"] for i in (2, 3)]
    assert math.isclose(float(mog["high_quality_fraction_mean"]), statistics.fmean(modes))
    images = {r["method"]: r for r in rows if r["dataset"] == "fake_images"}
    assert images["jare"]["inception_score_n"] == "0"             # missing, never 0
    assert (float(images["simgd"]["inception_score_mean"]), float(images["simgd"]["fid_mean"])) \
        == FAKE_SCORES[4]
    spectra = read_csv(d / "spectra.csv")
    assert len(spectra) == len(MUS) * len(METHODS)
    for r in spectra:
        got = json.loads((sweep["root"] / r["run"] / "spectrum.json").read_text())
        assert r["stable"] == str(got["stable"])
        assert math.isclose(float(r["max_re"]), max(re for re, _ in got["eigenvalues"]))
    summary = (d / "summary.md").read_text()
    assert "## Runs that did not complete" in summary
    assert f"diverged at {div['diverged_at']}" in summary
    assert "failed (no summary)" in summary
    # the step size labels a line (the wgan run's η = 1 differs from the others')
    assert f"Diverged: simgd, η=1, seed 0, at iteration {div['diverged_at']}" in summary
    unstable = [r for r in spectra if r["stable"] == "False"]
    for r in unstable:
        assert f"{r['method']}, μ = {r['dataset.mu']} (lr" in summary


@pytest.mark.long
def test_a_single_run_directory(sweep, tmp_path, capsys):
    run = sweep["gauss"][(2, "jare", 0)]
    assert main([str(run), "--out", str(tmp_path), "--name", "one"]) == 0
    rows = read_csv(tmp_path / "one" / "table.csv")
    assert len(rows) == 1 and rows[0]["runs"] == "1" and rows[0]["dist_equilibrium_std"] == ""
    value = summaries([run])[0]["metrics"]["dist_equilibrium"]
    assert math.isclose(float(rows[0]["dist_equilibrium_mean"]), value, rel_tol=1e-12)
    assert_png(tmp_path / "one" / "dynamics.png")


def test_nothing_to_report(tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no run directories" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_method_colours_are_shared():
    from gantrain.analysis.plots import METHOD_COLORS
    from gantrain.report.figures import color
    assert all(color(m) == c for m, c in METHOD_COLORS.items())
    assert np.all([color("unknown_method") not in METHOD_COLORS.values()])
