"""JARE App. C, the Non-Reversing-Flow Condition, on the Gaussian game (docs/methods.md §2.3).

The points: n = 1, the minimax loss, f(φ, θ) = E log s(θx) + E log(1 − s(θx̃)) with s the logistic
function, x ~ N(v, σ²), x̃ ~ N(φ, σ²). Then ∇²_φφ f = −t² with t² = θ² E[s(θx̃)(1 − s(θx̃))] > 0,
and for a given θ the φ with ∇_θ f = E[s(−θx)x] − E[s(θx̃)x̃] = 0 makes the cross term
∇²_φθ f ∇_θ f vanish. There the generator's updates are exactly the appendix's first two terms:
ConOpt's (1 − γt²)∇_φ f reverses exactly when γt² > 1, gradnorm's (Γ = −Mᵀ) −γt²∇_φ f always, and
JARE's ∇_φ f never. Everything here is computed with numpy's Gauss–Hermite rule and scipy's root
finder, independently of gantrain.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.special import expit

from gantrain.analyze import spectrum_at
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.rules import RULES, build_rule
from tests.helpers import make_cfg
from tests.rules.test_directions import Flat, reference_direction

MU, SIGMA = 1.0, 0.5
XI, W = np.polynomial.hermite_e.hermegauss(80)
W = W / W.sum()


def grad_theta(phi: float, theta: float) -> float:
    x, xf = MU + SIGMA * XI, phi + SIGMA * XI
    return float(W @ (expit(-theta * x) * x) - W @ (expit(theta * xf) * xf))


@functools.cache
def app_c_point(theta: float) -> tuple[float, float]:
    """(φ, t²) with ∇_θ f(φ, θ) = 0 and ∇²_φφ f(φ, θ) = −t²."""
    grid = np.linspace(-6, 6, 241)
    vals = [grad_theta(p, theta) for p in grid]
    k = next(i for i in range(len(grid) - 1) if vals[i] * vals[i + 1] < 0)
    phi = brentq(lambda p: grad_theta(p, theta), grid[k], grid[k + 1], xtol=1e-14)
    s = expit(theta * (phi + SIGMA * XI))
    return phi, theta**2 * float(W @ (s * (1 - s)))


def at_point(method: str, gamma: float, theta: float) -> dict:
    phi, _ = app_c_point(theta)
    cfg = make_cfg("dataset=gaussian", "dataset.dim=1", f"dataset.mu={MU}",
                   f"dataset.sigma={SIGMA}", f"dataset.init_phi=[{phi!r}]",
                   f"dataset.init_theta=[{theta!r}]", f"method={method}", f"gamma={gamma}",
                   "analysis.point=init", "analysis.quadrature_order=40")
    return spectrum_at(cfg)


THETAS = [0.8, 1.5, 3.0]   # (θ < 0 is no best response to any φ when v > 0)


@pytest.mark.parametrize("theta", THETAS)
def test_points_are_the_appendix_s(theta):
    phi, t2 = app_c_point(theta)
    assert abs(grad_theta(phi, theta)) < 1e-12 and t2 > 0.01
    assert abs(phi - MU) > 0.05          # away from the equilibrium: ∇_φ f ≠ 0


@pytest.mark.parametrize("theta", THETAS)
@pytest.mark.parametrize("side", [0.98, 1.02])
def test_conopt_reverses_the_generator_exactly_when_gamma_t2_exceeds_one(theta, side):
    _, t2 = app_c_point(theta)
    r = at_point("conopt", side / t2, theta)
    assert r["flow_cos_g"] == pytest.approx(-1.0 if side > 1 else 1.0, abs=1e-9)
    assert r["reverses_generator"] is (side > 1)


@pytest.mark.slow
@pytest.mark.parametrize("theta", THETAS)
def test_gradnorm_always_and_jare_never_reverse_the_generator(theta):
    _, t2 = app_c_point(theta)
    for gamma in (0.01, 1 / t2, 100.0):
        assert at_point("gradnorm", gamma, theta)["flow_cos_g"] == pytest.approx(-1.0, abs=1e-9)
    for gamma in (0.01, 1.02 / t2, 100.0, 1e4):
        r = at_point("jare", gamma, theta)
        assert r["flow_cos_g"] == pytest.approx(1.0, abs=1e-9) and not r["reverses_generator"]


def tiny_gaussian(method: str, gamma: float, seed: int = 0):
    cfg = make_cfg("dataset=gaussian", "dtype=float64", "dataset.dim=2", "dataset.mu=1.5",
                   "dataset.sigma=0.7", "dataset.init_phi=[0.9,0.4]",
                   "dataset.init_theta=[0.6,-1.2]")
    game = build_game(validate(cfg), dtype=torch.float64)
    rule = build_rule(method, gamma, {})
    rule.diagnose = True
    sgd = lambda ps: torch.optim.SGD(ps, lr=0.0)  # noqa: E731  (measure, don't move)
    return game, rule, sgd(game.d_params()), sgd(game.g_params())


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize("method", ["conopt", "jare", "conopt_g", "jare_d", "simgd"])
def test_training_metric_matches_explicit_hessians(method):
    """The logged cosines of one step equal those of the explicit-Hessian direction on the same
    batch (the batch replayed from the same seed)."""
    for gamma in (0.3, 30.0):
        game, rule, opt_d, opt_g = tiny_gaussian(method, gamma)
        stats = rule.train_step(game, opt_d, opt_g, 8, torch.Generator().manual_seed(7))
        x, z = game.sample_batch(8, torch.Generator().manual_seed(7))
        flat = Flat(game, x, z)
        u, v = reference_direction(method, flat, gamma), flat.v(flat.w0)
        g, d = slice(0, flat.n_g), slice(flat.n_g, None)
        assert float(stats["flow_cos_g"]) == pytest.approx(cos(u[g], v[g]), abs=1e-10)
        assert float(stats["flow_cos_d"]) == pytest.approx(cos(u[d], v[d]), abs=1e-10)
    if method == "conopt":   # at γ = 30 the penalty dominates: the cosines are far from 1
        assert float(stats["flow_cos_g"]) < 0


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(RULES))
def test_every_rule_logs_the_cosines_only_when_asked(method):
    game, rule, opt_d, opt_g = tiny_gaussian(method, 1.0)
    stats = rule.train_step(game, opt_d, opt_g, 8, torch.Generator().manual_seed(1))
    for key in ("flow_cos_g", "flow_cos_d"):
        c = float(stats[key])
        assert -1 - 1e-12 <= c <= 1 + 1e-12, (key, c)
    if method in ("simgd", "altgd"):
        assert float(stats["flow_cos_g"]) == pytest.approx(1.0, abs=1e-12)
    rule.diagnose = False
    stats = rule.train_step(game, opt_d, opt_g, 8, torch.Generator().manual_seed(1))
    assert "flow_cos_g" not in stats and "flow_cos_d" not in stats


def test_analysis_reports_the_cosines_at_the_equilibrium_as_undefined():
    r = spectrum_at(make_cfg("dataset=gaussian", "method=conopt", "gamma=1"))
    assert r["flow_cos_g"] is None and r["reverses_generator"] is None
    assert math.isfinite(r["conopt_bound"]["bound"])


def test_make_appc_table_shows_the_appendix_s_claim(tmp_path):
    from gantrain.analysis import appc

    assert (appc.MU, appc.SIGMA) == (MU, SIGMA)
    appc.main([str(tmp_path), ])
    rows = __import__("json").loads((tmp_path / "appc.json").read_text())["rows"]
    for r in rows:
        phi, t2 = app_c_point(r["theta"])       # the numpy point of this file
        assert r["phi"] == pytest.approx(phi, abs=1e-9) and r["t2"] == pytest.approx(t2, rel=1e-9)
        c = r["flow_cos_g"]
        assert c["conopt, γ = ½/t²"] > 0.999 and c["conopt, γ = 2/t²"] < -0.999
        assert c["gradnorm, γ = 1"] < -0.999
        assert min(c["jare, γ = 2/t²"], c["jare, γ = 100/t²"], c["simgd"]) > 0.999
    assert "| θ |" in (tmp_path / "appc.md").read_text()


def test_preset_logs_the_reversal_on_every_step(tmp_path):
    """experiment=gaussian_app_c (its start is this file's point at θ = 1.5) through the training
    loop: metrics.jsonl has the cosines at every logged step, and only there."""
    import json

    from gantrain.train import train

    phi, t2 = app_c_point(1.5)
    runs = {"conopt": ("gamma=4.0", -1.0), "conopt_low": ("gamma=1.0", 1.0),
            "gradnorm": ("gamma=1.0", -1.0), "jare": ("gamma=100.0", 1.0)}
    for name, (gamma, want) in runs.items():
        cfg = make_cfg("experiment=gaussian_app_c", f"method={name.split('_')[0]}", gamma,
                       "steps=6", "log_every=2", "checkpoint_every=6")
        assert cfg.dataset.init_phi[0] == pytest.approx(phi, abs=1e-6)
        assert 1.0 < 1 / t2 < 4.0                 # the preset's two γ straddle the threshold
        train(cfg, tmp_path / name)
        rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").open()]
        logged = {r["step"]: r.get("flow_cos_g") for r in rows}
        assert set(logged) == {0, 2, 4, 6} and logged[0] is None
        assert all(logged[s] == pytest.approx(want, abs=1e-6) for s in (2, 4, 6)), (name, logged)
