"""The Numerics of GANs presets (conf/experiment/numerics_*.yaml), their sweeps, the ``eval``
config group (``eval=numerics``: 6400 samples, 10 splits, no FID) and ``make numerics``."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from gantrain.cli import CONFIG_DIR
from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.models.images import build_image_models
from tests.helpers import make_cfg

ROOT = Path(CONFIG_DIR).parents[1]   # the checkout (its Makefile)
PRESETS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("numerics_*.yaml"))
SWEEPS = sorted(p.stem for p in (Path(CONFIG_DIR) / "sweep").glob("numerics*.yaml"))
# preset -> (arch, batch_norm, loss, gamma, d_extra_dense, g_extra_dense): the supplement's nets
# (Figs. 6-10, 13), gamma as its Fig. 13 gives it (10 with 4 conv layers, 0.1 with 3), the dense
# layer in D only (Fig. 8); its width 512 and the rest from the released code
EXPECTED = {
    "numerics_dcgan4": ("dcgan4", True, "standard", 10.0, 0, 0),
    "numerics_dcgan4_nobn": ("dcgan4", False, "standard", 10.0, 0, 0),
    "numerics_dcgan4_const": ("dcgan4_const", False, "standard", 10.0, 0, 0),
    "numerics_dcgan4_js": ("dcgan4_const", False, "minimax", 10.0, 0, 0),
    "numerics_dcgan3": ("dcgan3", False, "standard", 0.1, 0, 0),
    "numerics_dcgan4_dense": ("dcgan4_const", False, "standard", 10.0, 512, 0),
    "numerics_dcgan4_dense_js": ("dcgan4_const", False, "minimax", 10.0, 512, 0),
    "numerics_dcgan4_resnet": ("dcgan4_resnet", None, "standard", 10.0, 0, 0),
    "numerics_indicator": ("dcgan4_const", False, "indicator", 10.0, 0, 0),
}
# the values every image preset had before eval became a config group
OLD_EVAL_DEFAULTS = {"num_samples": 2560, "seed": 1234, "std_multiple": 3.0, "mode_min_share": 0.01,
                     "image_steps": [0], "every": 0, "fid_num_samples": None,
                     "reference_num_images": None, "batch_size": 50, "splits": 10,
                     "force_fid": False, "cache_dir": None}


def test_the_presets_and_sweeps_are_all_there():
    assert set(PRESETS) == set(EXPECTED)
    assert set(SWEEPS) == set(FIGURES)


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_validates_and_holds_the_papers_values(preset):
    cfg = make_cfg(f"experiment={preset}")
    validate(cfg)
    name, bn, loss, gamma, d_dense, g_dense = EXPECTED[preset]
    assert (cfg.arch.name, cfg.arch.get("batch_norm"), cfg.loss.name, cfg.gamma) == (name, bn, loss, gamma)
    assert (cfg.arch.get("d_extra_dense", 0), cfg.arch.get("g_extra_dense", 0)) == (d_dense, g_dense)
    assert (cfg.dataset.name, cfg.optim.name, cfg.optim.lr, cfg.batch_size) == (
        "cifar10", "rmsprop_tf", 1e-4, 64)
    assert (cfg.arch.filters, cfg.arch.z_dim, cfg.steps, cfg.method.name) == (64, 256, 150000, "conopt")
    assert (cfg.eval.name, cfg.eval.num_samples, cfg.eval.splits, cfg.eval.fid, cfg.eval.every) == (
        "numerics", 6400, 10, False, 1000)
    g, d = build_image_models(cfg.arch, cfg.dataset.resolution)      # the nets exist at 32×32
    assert g(__import__("torch").randn(2, 256)).shape == (2, 3, 32, 32)


def sweep_points(name: str) -> list[list[str]]:
    """Every value of every sweep axis at least once: each axis's values with the other axes at
    their first value (the seed axis changes nothing that composes)."""
    sweep = yaml.safe_load((Path(CONFIG_DIR) / "sweep" / f"{name}.yaml").read_text())
    params = sweep["hydra"]["sweeper"]["params"]
    axes = {k: [f"{k}={v}" for v in str(values).split(",")] for k, values in params.items()
            if k != "seed"}
    first = [vals[0] for vals in axes.values()]
    points = [first]
    for i, vals in enumerate(axes.values()):
        points += [first[:i] + [v] + first[i + 1:] for v in vals[1:]]
    return points


def quick_overrides() -> tuple[str, ...]:
    """The quick preset's sweeper params (conf/quick/numerics.yaml), as the jobs receive them."""
    params = yaml.safe_load((Path(CONFIG_DIR) / "quick" / "numerics.yaml").read_text())
    return tuple(f"{k}={v}" for k, v in params["hydra"]["sweeper"]["params"].items())


@pytest.mark.long
@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_point_composes_and_validates_also_quick(sweep):
    points = sweep_points(sweep)
    assert points
    quick_done, overrides = set(), quick_overrides()
    assert "dataset=fake_images" in overrides and "seed=0" in overrides
    for point in points:
        cfg = make_cfg(*point)
        validate(cfg)
        if point[0] in quick_done:        # the QUICK overrides once per preset
            continue
        quick_done.add(point[0])
        quick = make_cfg(*point, *overrides)
        validate(quick)
        assert quick.dataset.name == "fake_images" and quick.arch.name == cfg.arch.name
        assert quick.eval.name == "numerics" and quick.method.name == cfg.method.name
        build_image_models(quick.arch, quick.dataset.resolution)


ALL_METHODS = {"simgd", "altgd", "conopt", "conopt_d", "jare_d"}
# sweep -> (the supplement's figure, the (arch, batch_norm, loss, d_extra_dense, gamma) nets it
# trains, the methods, the step sizes or None for the presets' 1e-4, the gamma grid or None).
# Read from the supplement's captions: Figs. 6-7 "DC-GAN", "+ no batchnormalization", "+ constant
# number of filters in each layer", "+ Jensen-Shannon objective"; Fig. 8 those with "an additional
# fully connected layer in the discriminator"; Fig. 9 ConOpt with three objectives on the
# constant-filter net; Fig. 10 SimGD/AltGD/ConOpt; Fig. 11 ConOpt without BN against AltGD with
# BN; Fig. 12 AltGD against lr (3 and 4 layers); Figs. 13-14 ConOpt against lr and gamma (lr 2e-4).
DC4, DC4_NOBN, CONST = ("dcgan4", True), ("dcgan4", False), ("dcgan4_const", False)
FIGURES = {
    "numerics": ("6-7", {(*DC4, "standard", 0), (*DC4_NOBN, "standard", 0),
                         (*CONST, "standard", 0), (*CONST, "minimax", 0)}, ALL_METHODS, None, None),
    "numerics_dense": ("8", {(*CONST, "standard", 512), (*CONST, "minimax", 512)}, ALL_METHODS,
                       None, None),
    "numerics_divergence": ("9", {(*CONST, loss, 0) for loss in ("standard", "minimax", "indicator")},
                            {"conopt"}, None, None),
    "numerics_resnet": ("10", {("dcgan4_resnet", None, "standard", 0)}, {"simgd", "altgd", "conopt"},
                        None, None),
    "numerics_losses": ("11", {(*DC4, "standard", 0), (*DC4_NOBN, "standard", 0)},
                        {"conopt", "altgd"}, None, None),
    "numerics_altgd_lr": ("12", {("dcgan3", True, "standard", 0), (*DC4, "standard", 0)},
                          {"altgd"}, "grid", None),
    "numerics_lr": ("13", {("dcgan3", False, "standard", 0), (*DC4_NOBN, "standard", 0)},
                    {"conopt"}, "grid", None),
    "numerics_gamma": ("14", {("dcgan3", False, "standard", 0), (*DC4_NOBN, "standard", 0)},
                       {"conopt"}, (2e-4,), (0.1, 10.0)),
}


def sweep_product(name: str) -> list[list[str]]:
    """Every point of a sweep's grid but the seed (the full product, as Hydra runs it)."""
    import itertools

    sweep = yaml.safe_load((Path(CONFIG_DIR) / "sweep" / f"{name}.yaml").read_text())
    params = sweep["hydra"]["sweeper"]["params"]
    axes = [[f"{k}={v}" for v in str(values).split(",")] for k, values in params.items() if k != "seed"]
    return [list(p) for p in itertools.product(*axes)]


@pytest.mark.long
@pytest.mark.parametrize("sweep", sorted(FIGURES))
def test_each_sweep_trains_what_its_figure_shows(sweep):
    fig, nets, methods, etas, gammas = FIGURES[sweep]
    header = (Path(CONFIG_DIR) / "sweep" / f"{sweep}.yaml").read_text().splitlines()[1]
    assert f"Fig{'s' if '-' in fig else ''}. {fig.split('-')[0]}" in header, header
    cfgs = [make_cfg(*point) for point in sweep_product(sweep)]
    got = {(c.arch.name, c.arch.get("batch_norm"), c.loss.name, c.arch.get("d_extra_dense", 0))
           for c in cfgs}
    assert got == nets
    assert {c.method.name for c in cfgs} == methods
    assert all(c.arch.get("g_extra_dense", 0) == 0 for c in cfgs)     # Fig. 8: D only
    by_net_gamma = {(c.arch.name, c.gamma) for c in cfgs if c.method.name == "conopt"}
    if sweep in ("numerics_lr", "numerics_losses"):   # Fig. 13: γ 0.1 with 3 layers, 10 with 4
        assert by_net_gamma <= {("dcgan3", 0.1), ("dcgan4", 10.0)}
    lrs = {c.optim.lr for c in cfgs}
    if etas is None:
        assert lrs == {1e-4}                          # the code's lr (the supplement gives none)
    elif etas == "grid":
        assert len(lrs) >= 3 and min(lrs) < 1e-4 < max(lrs)
    else:
        assert lrs == set(etas)                       # Fig. 14: "2 · 10−4"
    if gammas:
        assert set(gammas) < {c.gamma for c in cfgs}
    if sweep == "numerics_losses":                    # ConOpt without BN, AltGD with it
        assert {(c.method.name, c.arch.batch_norm) for c in cfgs} == {("conopt", False),
                                                                      ("altgd", True)}


def test_eval_group_keeps_the_old_defaults_and_single_overrides():
    for overrides in ((), ("dataset=fake_images",), ("experiment=cifar_a_jare", "eval=default")):
        cfg = make_cfg(*overrides)
        validate(cfg)
        assert cfg.eval.name == "default" and cfg.eval.fid is True
        if not overrides:
            assert {k: cfg.eval[k] for k in OLD_EVAL_DEFAULTS} == OLD_EVAL_DEFAULTS
    cfg = make_cfg("dataset=fake_images", "eval=numerics", "eval.every=7", "eval.splits=5")
    validate(cfg)
    assert (cfg.eval.every, cfg.eval.splits, cfg.eval.num_samples, cfg.eval.fid) == (7, 5, 6400, False)
    # IS only: no FID sample floor, even with few samples and evaluation on
    validate(make_cfg("dataset=fake_images", "eval=numerics", "eval.every=5", "eval.num_samples=64"))
    with pytest.raises(ConfigError, match="eval.num_samples"):
        validate(make_cfg("dataset=fake_images", "eval.every=5", "eval.num_samples=64"))
    bad = make_cfg("eval=numerics")
    bad.eval.name = "nope"
    with pytest.raises(ConfigError, match=r"eval\.name=.nope. is invalid: allowed: default, numerics"):
        validate(bad)


def test_make_numerics_plans_every_sweep_and_its_report():
    out = subprocess.run(["make", "-C", str(ROOT), "-n", "numerics", "QUICK=1"], capture_output=True,
                         text=True, check=True).stdout
    for sweep in SWEEPS:
        assert f"-m sweep={sweep} quick=numerics " in out
        assert f"gantrain-report outputs/multirun-quick/{sweep} --name {sweep}" in out
    assert out.count("quick=numerics") == len(SWEEPS)
    assert "numerics" in subprocess.run(["make", "-C", str(ROOT), "help"], capture_output=True,
                                        text=True, check=True).stdout


def test_make_numerics_quick_runs_every_figure_on_one_thread(tmp_path):
    """QUICK=1 runs torch on one thread (on a shared CPU, more threads spin: the tiny quick nets ran
    ~50× slower with two), unless the caller set OMP_NUM_THREADS; every sweep, then its report."""
    import os

    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("gantrain", "gantrain-report"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} OMP=$OMP_NUM_THREADS $*"\n')
        (bin_dir / tool).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}

    def run(*args, **extra):
        return subprocess.run(["make", "-s", "-C", str(ROOT), "numerics", f"VENV={tmp_path / 'venv'}",
                               *args], capture_output=True, text=True, check=True,
                              env={**env, **extra}).stdout.splitlines()

    lines = run("QUICK=1")
    order = ["numerics", "numerics_dense", "numerics_divergence", "numerics_resnet", "numerics_losses",
             "numerics_altgd_lr", "numerics_lr", "numerics_gamma"]
    assert [ln.split("sweep=")[1].split()[0] for ln in lines if ln.startswith("gantrain ")] == order
    assert len(lines) == 2 * len(order) and all(" OMP=1 " in ln for ln in lines)
    assert all(" OMP=3 " in ln for ln in run("QUICK=1", OMP_NUM_THREADS="3"))
    assert all(" OMP= " in ln for ln in run())              # the full sweeps keep torch's default
