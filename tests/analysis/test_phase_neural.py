"""Phase diagrams of the neural MoG game (gantrain/analysis/phase_neural.py): a grid point is the
single run of its settings, too large a step diverges, each point's Lemma 4 bound is the spectrum
mode's at its checkpoint, and bad input is refused in one line before any work."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import open_dict

from gantrain.analysis.phase_neural import (
    NeuralPhaseSettings,
    check_cfg,
    classify_point,
    point_dir,
    run_neural_phase,
)
from gantrain.errors import ConfigError
from gantrain.train import train
from tests.helpers import make_cfg

# a tiny MoG game: 3 modes, 2x8 MLPs, few steps (the ensemble tests' size)
TINY = ("dataset=mog", "method=jare", "dataset.modes=3", "arch.depth=2", "arch.width=8",
        "arch.z_dim=2", "eval.num_samples=64", "eval.image_steps=[]", "batch_size=32",
        "log_every=10", "checkpoint_every=20", "analysis.batches=1")


def analyze_cfg(*overrides: str):
    from hydra import compose, initialize_config_dir

    from gantrain.cli import CONFIG_DIR
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("analyze", overrides=["logger=none", "progress=false", *overrides])


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A 2x2 SGD grid: lr 1e-2 (stable) and 1e4 (blows up at once), γ 1 and 10; 20 steps."""
    out = tmp_path_factory.mktemp("phase-neural")
    cfg = analyze_cfg(*TINY, "optim=sgd", "phase.steps=20", "phase.lrs=[1e-2,1e4]",
                      "phase.gammas=[1,10]", "phase.neural.gaussian=false")
    return cfg, out, run_neural_phase(cfg, out)


def test_grid_point_is_the_single_run(grid, tmp_path):
    """Point (lr 1e-2, γ 10), trained in the ensemble, ends as `gantrain` alone ends with the same
    settings (the trainer's own autograd rule, not the ensemble's torch.func one)."""
    cfg, out, data = grid
    single = make_cfg(*TINY, "optim=sgd", "steps=20", "eta=1e-2", "gamma=10")
    summary = train(single, tmp_path)
    s = NeuralPhaseSettings.from_cfg(cfg)
    cls, metrics = classify_point(summary, s, 3)
    assert data["classes"][0][1] == cls
    got = data["metrics"][0][1]
    assert got["modes_covered"] == metrics["modes_covered"] and got["status"] == "completed"
    for key in ("high_quality_fraction", "grad_norm"):
        assert got[key] == pytest.approx(metrics[key], rel=1e-4, abs=1e-6), key
    member = json.loads((point_dir(out, 0, 1) / "summary.json").read_text())
    assert member["gamma"] == 10 and member["eta"] == pytest.approx(1e-2)


def test_too_large_a_step_diverges_and_a_small_one_does_not(grid):
    _, out, data = grid
    assert data["classes"][1] == ["diverged", "diverged"]
    assert "diverged" not in data["classes"][0]
    assert data["counts"]["diverged"] == 2 and sum(data["counts"].values()) == 4
    assert data["lrs"] == [1e-2, 1e4] and data["gammas"] == [1.0, 10.0]
    assert (out / "phase.png").stat().st_size > 10_000


def test_lemma4_bound_is_the_spectrum_modes_at_the_checkpoint(grid, tmp_path):
    """`gantrain-analyze analysis.point=<member run dir>` (the spectrum mode, a subprocess) reports
    the bound the phase diagram recorded for that point."""
    _, out, data = grid
    run_dir = point_dir(out, 0, 0)
    exe = Path(sys.executable).parent / "gantrain-analyze"
    res = subprocess.run([str(exe), f"hydra.run.dir={tmp_path}", "logger=none", "progress=false",
                          *TINY, "optim=sgd", "eta=1e-2", "gamma=1", f"analysis.point={run_dir}",
                          "analysis.compare=[]", "analysis.gammas=[1]"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "WANDB_MODE": "disabled"})
    assert res.returncode == 0, res.stderr
    spectrum = json.loads((tmp_path / "spectrum.json").read_text())
    point = data["lemma4"]["points"][0][0]
    assert point["max_stable_lr"] == pytest.approx(spectrum["max_stable_lr"], rel=1e-9, abs=0)
    assert point["n_params"] == spectrum["n_params"] and point["spectrum"] == "full"
    decaying = [complex(re, im) for re, im in spectrum["eigenvalues"] if re < 0]
    from gantrain.analysis.stability import max_stable_step
    assert point["decaying_max_stable_lr"] == pytest.approx(max_stable_step(decaying), rel=1e-9)


def test_classes_follow_the_stated_rules():
    cfg = analyze_cfg(*TINY, "phase.lrs=[1e-3]", "phase.gammas=[1]", "phase.neural.grad_tol=0.5")
    s = NeuralPhaseSettings.from_cfg(cfg)
    good = {"status": "completed", "steps_done": 9,
            "metrics": {"modes_covered": 3, "high_quality_fraction": 0.9, "grad_norm_d": 0.3,
                        "grad_norm_g": 0.3}}
    assert classify_point(good, s, 3)[0] == "converged"
    assert classify_point({**good, "status": "diverged"}, s, 3)[0] == "diverged"
    for key, value in (("modes_covered", 2), ("high_quality_fraction", 0.4), ("grad_norm_d", 0.4)):
        worse = {**good, "metrics": {**good["metrics"], key: value}}   # ‖(0.4, 0.3)‖ = 0.5 passes
        expect = "converged" if key == "grad_norm_d" else "too_slow"
        assert classify_point(worse, s, 3)[0] == expect, key
    slow = {**good, "metrics": {**good["metrics"], "grad_norm_d": 0.5}}
    assert classify_point(slow, s, 3)[0] == "too_slow"
    with pytest.raises(RuntimeError, match="failed"):
        classify_point({**good, "status": "failed"}, s, 3)


@pytest.mark.parametrize("override,match", [
    ("phase.lrs=[-1e-3,1e-2]", "phase.lrs="),
    ("phase.neural.min_high_quality=1.5", "phase.neural.min_high_quality"),
    ("phase.neural.ensemble_size=0", "phase.neural.ensemble_size"),
    ("+phase.neural.tolerance=1", "phase.neural.tolerance is not a known key"),
])
def test_bad_settings_are_refused(override, match):
    cfg = analyze_cfg(*TINY, override)
    with pytest.raises(ConfigError, match=match):
        NeuralPhaseSettings.from_cfg(cfg)


def test_games_the_ensemble_cannot_run_are_refused():
    with pytest.raises(ConfigError, match="dataset='dirac' is invalid for analysis.mode=phase"):
        check_cfg(analyze_cfg("dataset=dirac"))
    cfg = analyze_cfg(*TINY)
    with open_dict(cfg):
        cfg.analysis.every = 5
    with pytest.raises(ConfigError, match="analysis.every=5 is invalid for analysis.mode=phase"):
        check_cfg(cfg)


def _cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "gantrain-analyze"
    return subprocess.run([str(exe), f"hydra.run.dir={tmp_path / 'out'}", "logger=none",
                           "progress=false", "analysis.mode=phase", *overrides],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WANDB_MODE": "disabled"})


@pytest.mark.slow
@pytest.mark.parametrize("overrides,needle", [
    (("dataset=cifar10",), "dataset='cifar10' is invalid for analysis.mode=phase: allowed: "
                           "gaussian"),
    (("dataset=mog", "phase.lrs=[1e-3,-1e-2]"), "phase.lrs=[0.001, -0.01] is invalid"),
])
def test_cli_refuses_bad_input_in_one_line_before_any_work(tmp_path, overrides, needle):
    res = _cli(tmp_path, *overrides)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "out" / "points").exists()


@pytest.mark.slow
def test_cli_draws_the_gaussian_panel_beside(tmp_path):
    res = _cli(tmp_path, *TINY, "phase.steps=10", "phase.lrs=[1e-3]", "phase.gammas=[1,10]",
               "phase.neural.lemma4=false", "phase.neural.gaussian_overrides=['phase.steps=50',"
               "'phase.lr_range.num=3','phase.gamma_range.num=3','phase.boundary_points=5']")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    data = json.loads((out / "phase.json").read_text())
    gauss = json.loads((out / "gaussian" / "phase.json").read_text())
    assert data["gaussian"] == "gaussian/phase.json" and data["lemma4"] is None
    assert gauss["method"] == data["method"] and gauss["steps"] == 50
    assert len(gauss["classes"]) == 3 and (out / "phase.png").stat().st_size > 10_000
    assert "phase diagram: jare on mog, 1x2 points" in res.stdout
