"""`gantrain-analyze analysis.mode=field` (gantrain/analysis/field.py): the DiracGAN's update fields
against the fields written out here from L_D = log 2 + softplus(θφ), the trajectories against
`gantrain` runs, the figure, and the refusals."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from gantrain import analyze
from gantrain.analysis.field import FieldSettings, compute_fields
from gantrain.cli import CONFIG_DIR
from gantrain.errors import ConfigError
from gantrain.rules import RULES
from gantrain.train import train
from tests.helpers import make_cfg
from tests.report.test_report import assert_png


def analyze_cfg(*overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("analyze", overrides=["logger=none", "progress=false", *overrides])


def sigmoid(t):
    return 1 / (1 + math.exp(-t))


def u(phi, theta):
    """(∂L_G/∂φ, ∂L_D/∂θ) of the minimax DiracGAN: ∂L_D/∂θ = σ(θφ)φ, L_G = −L_D."""
    s = sigmoid(theta * phi)
    return np.array([-s * theta, s * phi])


def u_jacobian(phi, theta):
    """∂u/∂(φ, θ) by hand, s′ = s(1 − s)."""
    s = sigmoid(theta * phi)
    ds = s * (1 - s)
    return np.array([[-ds * theta**2, -s - ds * theta * phi],
                     [s + ds * theta * phi, ds * phi**2]])


def expected_vector(method, phi, theta, gamma, lr):
    """(w′ − w)/lr of one SGD step of ``method`` from (φ, θ), written out."""
    w = np.array([phi, theta])
    if method == "simgd":
        return -u(phi, theta)
    if method == "conopt":                      # u + γ∇½‖u‖² = u + γHᵀu
        return -(u(phi, theta) + gamma * u_jacobian(phi, theta).T @ u(phi, theta))
    if method == "altgd":                       # D first, then G at the new θ
        theta_new = theta - lr * u(phi, theta)[1]
        return np.array([-u(phi, theta_new)[0], -u(phi, theta)[1]])
    if method == "extragradient":
        return -u(*(w - lr * u(phi, theta)))
    if method == "optimistic":                  # primed one SimGD step back: w_prev = w + lr·u(w)
        return -(2 * u(phi, theta) - u(*(w + lr * u(phi, theta))))
    raise AssertionError(method)


def run_analyze(monkeypatch, capfd, tmp_path, *args):
    """``gantrain-analyze args`` in this process; (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setattr(sys, "argv", ["gantrain-analyze", *args])
    GlobalHydra.instance().clear()
    capfd.readouterr()
    try:
        analyze.main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.slow
def test_cli_field_mode_writes_the_written_out_fields(monkeypatch, capfd, tmp_path):
    gamma, lr, steps = 0.7, 0.1, 20
    run = tmp_path / "run"
    code, out, err = run_analyze(monkeypatch, capfd, tmp_path, f"hydra.run.dir={run}",
                                 "analysis.mode=field", "dataset=dirac", f"gamma={gamma}",
                                 "field.grid=5", "field.methods=[simgd,conopt]",
                                 f"field.steps={steps}", "field.starts=[[1,1],[-0.5,1.5]]")
    assert code == 0, err
    data = json.loads((run / "field.json").read_text())
    axis = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(data["phi"], axis)
    np.testing.assert_allclose(data["theta"], axis)
    assert data["lr"] == lr and data["gamma"] == gamma
    assert list(data["methods"]) == ["simgd", "conopt"]
    for m, r in data["methods"].items():
        got = np.stack([np.array(r["field_phi"]), np.array(r["field_theta"])], axis=-1)
        want = np.array([[expected_vector(m, phi, theta, gamma, lr) for phi in axis]
                         for theta in axis])     # [i][j]: theta = axis[i], phi = axis[j]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=m)
        assert [t["start"] for t in r["trajectories"]] == [[1.0, 1.0], [-0.5, 1.5]]
        for t in r["trajectories"]:
            path = np.array(t["path"])
            assert path.shape == (steps + 1, 2) and t["steps_done"] == steps
            np.testing.assert_allclose(path[0], t["start"])
            # each iterate is one step along the written-out field
            step = path[0] + lr * expected_vector(m, *path[0], gamma, lr)
            np.testing.assert_allclose(path[1], step, rtol=1e-12, atol=1e-14)
            assert t["final_distance"] == pytest.approx(np.linalg.norm(path[-1]))
            norms = np.linalg.norm(path, axis=1)
            if m == "simgd":   # −u ⊥ w: SimGD only moves away from the equilibrium
                assert (np.diff(norms) > 0).all()
            else:              # ConOpt γ = 0.7: −γ/4 ± i/2, contracting
                assert norms[-1] < norms[0]
    assert_png(run / "field.png")
    assert "simgd" in out and "field.json" in out


@pytest.mark.skipif(any(m not in RULES for m in ("extragradient", "optimistic")),
                    reason="needs the extragradient and optimistic rules")
def test_two_point_and_alternating_vectors_are_their_one_step_maps():
    """AltGD and extragradient: the one-step equivalent field; optimistic: primed one SimGD step
    back. lr = 0.3 keeps them visibly apart from −u."""
    gamma, lr = 1.0, 0.3
    methods = ["altgd", "extragradient", "optimistic"]
    cfg = analyze_cfg("analysis.mode=field", "dataset=dirac",
                      f"field.methods=[{','.join(methods)}]", "field.grid=3", "field.steps=2",
                      "field.extent=1.5", f"field.lr={lr}")
    data = compute_fields(cfg, FieldSettings.from_cfg(cfg))
    axis = np.linspace(-1.5, 1.5, 3)
    for m in methods:
        r = data["methods"][m]
        for i, theta in enumerate(axis):
            for j, phi in enumerate(axis):
                got = np.array([r["field_phi"][i][j], r["field_theta"][i][j]])
                want = expected_vector(m, phi, theta, gamma, lr)
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=m)
        corner = np.array([r["field_phi"][2][2], r["field_theta"][2][2]])
        assert np.abs(corner + u(1.5, 1.5)).max() > 1e-2   # not SimGD's vector


def test_trajectory_is_the_gantrain_run(tmp_path):
    """From the dataset's start at lr = optim.lr, a trajectory is `gantrain dataset=dirac`'s run."""
    overrides = ["dataset=dirac", "method=conopt", "gamma=0.7", "dtype=float64",
                 "dataset.init_phi=-0.4", "dataset.init_theta=1.2", "steps=30"]
    train(make_cfg(*overrides, "checkpoint_every=30"), tmp_path)
    modules = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["modules"]
    trained = [modules["generator"]["phi"].item(), modules["discriminator"]["theta"].item()]
    cfg = analyze_cfg(*overrides, "analysis.mode=field", "field.methods=[conopt]", "field.grid=2",
                      "field.steps=null")
    s = FieldSettings.from_cfg(cfg)
    assert (s.steps, s.lr, s.starts) == (30, 0.1, [[-0.4, 1.2]])
    t = compute_fields(cfg, s)["methods"]["conopt"]["trajectories"][0]
    np.testing.assert_allclose(t["path"][-1], trained, rtol=1e-13, atol=1e-15)


# --- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,fragments", [
    (["dataset=gaussian"], ["dataset='gaussian'", "analysis.mode=field", "dataset=dirac"]),
    (["dataset=mog"], ["dataset='mog'", "dataset=dirac"]),
    (["dataset=dirac", "arch=mlp"], ["arch='mlp'", "dataset=dirac", "linear"]),
    (["dataset=dirac", "loss=wgan"], ["loss='wgan'", "minimax, standard"]),
    (["dataset=dirac", "optim=adam"], ["optim='adam'", "optim=sgd"]),
    (["dataset=dirac", "field.methods=[simgd,nosuch]"], ["'nosuch' is not a method", "jare"]),
    (["dataset=dirac", "field.grid=1"], ["field.grid=1", "integer >= 2"]),
    (["dataset=dirac", "+field.foo=1"], ["field.foo is not a known key", "extent"]),
])
def test_bad_field_input_is_one_line_and_writes_nothing(monkeypatch, capfd, tmp_path, args,
                                                        fragments):
    code, out, err = run_analyze(monkeypatch, capfd, tmp_path, f"hydra.run.dir={tmp_path / 'run'}",
                                 "analysis.mode=field", *args)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("gantrain-analyze: error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("override,fragment", [
    ("field.extent=0", "field.extent=0 is invalid"),
    ("field.lr=-1", "field.lr=-1 is invalid"),
    ("field.steps=0", "field.steps=0 is invalid"),
    ("field.methods=[]", "field.methods=[] is invalid"),
    ("field.starts=[[1,2,3]]", "field.starts=[[1, 2, 3]] is invalid"),
    ("field.methods=[gradnorm]", "gradnorm"),
])
def test_field_settings_refuse_bad_values(override, fragment):
    cfg = analyze_cfg("analysis.mode=field", "dataset=dirac", "gamma=0", override)
    with pytest.raises(ConfigError) as e:
        analyze.check_config(cfg)
    assert fragment in str(e.value) and "\n" not in str(e.value)
