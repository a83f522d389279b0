"""`gradnorm` (JARE App. C's Γ = −Mᵀ): u = γ∇½‖v‖² and nothing else (docs/methods.md §2, §4).

The direction is checked against full Hessians (u = γJᵀv, J = ∂v/∂w), its Jacobian at the Gaussian
equilibrium against −γMᵀM with M written out by hand, and a short run against App. C's outcome:
descending ½‖v‖² from a generator far from the data saturates the discriminator and pushes the
generator away instead of to φ* = v, where JARE converges.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gantrain.analysis.jacobian import field_jacobian
from gantrain.analyze import spectrum_at
from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.games import build_game
from gantrain.rules import build_rule
from gantrain.train import train
from tests.helpers import make_cfg
from tests.rules.test_directions import Flat, tiny_game

GAMMA = 0.7


def hessian_parts(flat: Flat):
    """v and J = ∂v/∂w (rows (φ, θ)) from the full Hessians of L_G and L_D."""
    w, n_g = flat.w0, flat.n_g
    h_d = torch.autograd.functional.hessian(lambda w: flat.losses(w)[0], w)
    h_g = torch.autograd.functional.hessian(lambda w: flat.losses(w)[1], w)
    return flat.v(w), torch.cat([h_g[:n_g], h_d[n_g:]])


def flat_direction(out) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)])


@pytest.mark.parametrize("loss", ["standard", "minimax", "hinge"])
@pytest.mark.parametrize("dataset", ["mog", "gaussian"])
def test_direction_is_gamma_jt_v(loss, dataset):
    game, x, z = tiny_game(loss, dataset)
    v, J = hessian_parts(Flat(game, x, z))
    rule = build_rule("gradnorm", GAMMA, {})
    for zero_sum in {False, game.zero_sum}:
        out = rule.direction([game.losses(x, z)], game.d_params(), game.g_params(), zero_sum=zero_sum)
        torch.testing.assert_close(flat_direction(out), GAMMA * J.T @ v, atol=1e-8, rtol=1e-7)
    assert (GAMMA * J.T @ v - v).abs().max() > 1e-3   # it is not v plus something small


def test_unbiased_direction_is_half_the_cross_products():
    game, x, z = tiny_game("standard")
    halves = [(x[:3], z[:3]), (x[3:], z[3:])]
    (v_a, j_a), (v_b, j_b) = (hessian_parts(Flat(game, *xz)) for xz in halves)
    rule = build_rule("gradnorm", GAMMA, {"regularizer_estimate": "unbiased"})
    out = rule.direction([game.losses(*xz) for xz in halves], game.d_params(), game.g_params())
    torch.testing.assert_close(flat_direction(out), GAMMA * 0.5 * (j_a.T @ v_b + j_b.T @ v_a),
                               atol=1e-8, rtol=1e-7)


def by_hand_m(mu, sigma, n, arch):
    """The SimGD Jacobian at φ* = v, θ* = 0 (docs/methods.md §4; App. B for eˣ), (φ − v, θ) order."""
    v = np.zeros(n)
    v[-1] = mu
    if arch == "linear":
        a, second = np.ones(n), sigma**2 * np.eye(n) + np.outer(v, v)
    else:
        a = np.exp(v + sigma**2 / 2)
        second = np.outer(a, a) * np.where(np.eye(n) > 0, np.exp(sigma**2), 1.0)
    return np.block([[np.zeros((n, n)), 0.5 * np.diag(a)], [-0.5 * np.diag(a), -0.5 * second]])


@pytest.mark.parametrize("arch,mu,sigma,n,gamma", [("linear", 2.0, 0.2, 2, 10.0),
                                                   ("linear", 0.7, 1.1, 3, 0.3),
                                                   ("fullrank", 0.5, 0.3, 2, 4.0)])
def test_jacobian_at_the_equilibrium_is_minus_gamma_mtm(arch, mu, sigma, n, gamma):
    cfg = make_cfg("dataset=gaussian", f"arch={arch}", f"dataset.mu={mu}",
                   f"dataset.sigma={sigma}", f"dataset.dim={n}")
    game = build_game(validate(cfg), dtype=torch.float64)
    with torch.no_grad():
        game.generator.phi.copy_(game.v)
        game.discriminator.theta.zero_()
    A = field_jacobian(build_rule("gradnorm", gamma, {}), game.expected_losses(12), game.d_params(),
                       game.g_params(), zero_sum=True).numpy()
    M = by_hand_m(mu, sigma, n, arch)
    np.testing.assert_allclose(A, -gamma * M.T @ M, rtol=1e-9, atol=1e-11)
    # symmetric negative definite: real eigenvalues, ζ = 0; τ is cond(M)²
    r = spectrum_at(make_cfg("dataset=gaussian", f"arch={arch}", "method=gradnorm", f"gamma={gamma}",
                             f"dataset.mu={mu}", f"dataset.sigma={sigma}", f"dataset.dim={n}",
                             "analysis.quadrature_order=12"))
    assert r["zeta"] == 0 and r["stable"]
    assert r["tau"] == pytest.approx(np.linalg.cond(M) ** 2, rel=1e-8)
    if arch == "linear":   # the closed form per 2×2 block: 16λ² + γ(8 + 4s²)λ + γ² = 0
        got = sorted(complex(*p).real for p in r["eigenvalues"])
        want = sorted(complex(*p).real for p in r["theory_eigenvalues"])
        np.testing.assert_allclose(got, want, rtol=1e-9)
        np.testing.assert_allclose(got, np.sort(np.linalg.eigvalsh(-gamma * M.T @ M)), rtol=1e-9)


def test_gamma_zero_is_refused():
    with pytest.raises(ConfigError, match="gamma=0.0 is invalid: method=gradnorm needs gamma > 0"):
        validate(make_cfg("dataset=gaussian", "method=gradnorm", "gamma=0.0"))
    with pytest.raises(ValueError, match="gradnorm needs gamma > 0"):
        build_rule("gradnorm", 0.0, {})


def test_reduce_reaches_the_delegate():
    """Under torch.distributed the loop sets ``rule.reduce``; gradnorm must use it."""
    game, x, z = tiny_game("standard")
    rule = build_rule("gradnorm", GAMMA, {})
    plain = flat_direction(rule.direction([game.losses(x, z)], game.d_params(), game.g_params()))
    rule.reduce = lambda ts: [2 * t for t in ts]     # a stand-in all-reduce that doubles
    doubled = flat_direction(rule.direction([game.losses(x, z)], game.d_params(), game.g_params()))
    torch.testing.assert_close(doubled, 4 * plain)   # v doubled, then Jᵀ(2v) doubled again


def test_app_c_generator_is_pushed_away_where_jare_converges(tmp_path):
    """Descent on ½‖v‖² alone from far away (μ = 2, the generator 3 below the data, a weak
    discriminator; docs/results.md's App. C note): the discriminator saturates and the generator is pushed
    away, where JARE converges. 500 steps at η = 3e-2."""
    start = 3.0                                    # ‖φ0 − v‖: φ0 = (0, −1), v = (0, 2)
    final = {}
    for method in ("gradnorm", "jare"):
        cfg = make_cfg("dataset=gaussian", "dataset.mu=2.0", "dataset.sigma=0.2",
                       "dataset.init_phi=[0.0,-1.0]", "dataset.init_theta=[0.05,0.05]", "gamma=10",
                       "batch_size=128", f"method={method}", "eta=3e-2", "steps=500",
                       "log_every=250", "checkpoint_every=500")
        summary = train(cfg, tmp_path / method)
        assert summary["status"] == "completed"
        final[method] = summary["metrics"]
    assert final["gradnorm"]["dist_generator"] > 1.2 * start          # moved away from the data
    assert final["gradnorm"]["dist_discriminator"] > 1.5              # a saturated discriminator
    assert final["jare"]["dist_equilibrium"] < 0.01 * start
