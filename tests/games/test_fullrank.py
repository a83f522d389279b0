"""App. B's full-rank game: D_θ(x) = θᵀeˣ, G_φ(z) = φ + z on x ~ N(v, σ²I) (docs/methods.md §4).

The quadrature's expected losses are checked against E eˣ = e^{μ+σ²/2} (the WGAN loss is linear in
D) and against Monte Carlo for the saturating loss; the Jacobian of the exact SimGD field at
φ* = v, θ* = 0 against M written out by hand from g1'(0) = −g2'(0) = ½, g1''(0) = g2''(0) = −¼.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gantrain.analysis.jacobian import field_jacobian
from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.games import build_game
from gantrain.rules import build_rule
from gantrain.train import train
from tests.helpers import make_cfg


def fullrank_game(mu=1.0, sigma=0.3, n=2, loss="minimax"):
    cfg = make_cfg("dataset=gaussian", "arch=fullrank", f"dataset.mu={mu}", f"dataset.sigma={sigma}",
                   f"dataset.dim={n}", f"loss={loss}", "dtype=float64")
    validate(cfg)
    return build_game(validate(cfg), dtype=torch.float64)


def put(game, phi, theta):
    with torch.no_grad():
        game.generator.phi.copy_(torch.as_tensor(phi, dtype=torch.float64))
        game.discriminator.theta.copy_(torch.as_tensor(theta, dtype=torch.float64))


@pytest.mark.parametrize("sigma", [0.2, 0.7])
def test_wgan_expected_losses_match_the_lognormal_mean(sigma):
    # L_D = E D(G(z)) − E D(x) = θᵀ(e^{φ+σ²/2} − e^{v+σ²/2}), v = (0, 0, 1.3); 8 Gauss–Hermite
    # points match E e^{σξ} to a relative 8!σ¹⁶/16! (6e-12 at σ = 0.7), hence 1e-10
    game = fullrank_game(mu=1.3, sigma=sigma, n=3, loss="wgan")
    phi, theta = np.array([0.4, -0.3, 0.9]), np.array([0.7, -1.1, 0.25])
    put(game, phi, theta)
    v = np.array([0.0, 0.0, 1.3])
    want_d = theta @ (np.exp(phi + sigma**2 / 2) - np.exp(v + sigma**2 / 2))
    want_g = -theta @ np.exp(phi + sigma**2 / 2)
    ld, lg = game.expected_losses(8)
    assert ld.item() == pytest.approx(want_d, rel=1e-10, abs=1e-12)
    assert lg.item() == pytest.approx(want_g, rel=1e-10, abs=1e-12)


def test_minimax_expected_losses_match_monte_carlo():
    game = fullrank_game(mu=0.8, sigma=0.4, n=2)
    put(game, [0.3, 0.5], [0.6, -0.4])
    rng = torch.Generator().manual_seed(0)
    x, z = game.sample_batch(400_000, rng)
    d_real, d_fake = game.discriminator(x), game.discriminator(game.generator(z))
    per_sample = torch.nn.functional.softplus(-d_real) + torch.nn.functional.softplus(d_fake)
    mc, se = per_sample.mean().item(), per_sample.std().item() / math.sqrt(len(per_sample))
    ld, lg = game.expected_losses(8)
    assert abs(ld.item() - mc) < 4 * se and se < 1e-3
    assert lg.item() == pytest.approx(-ld.item(), abs=1e-15)   # minimax: L_G = −L_D


@pytest.mark.parametrize("mu,sigma,n", [(-1.0, 0.1, 1), (0.5, 0.5, 2), (2.0, 0.2, 3)])
def test_equilibrium_and_jacobian_match_the_closed_form(mu, sigma, n):
    game = fullrank_game(mu, sigma, n)
    v = np.zeros(n)
    v[-1] = mu
    put(game, v, np.zeros(n))
    # E e^{2x} is E e^{2σξ}: 12 points keep its relative error 12!(2σ)²⁴/24! below 1e-15 at σ = 0.5
    ld, lg = game.expected_losses(12)
    grads = torch.autograd.grad(ld, game.d_params() + game.g_params(), retain_graph=True)
    assert max(g.abs().max().item() for g in grads) < 1e-13   # φ* = v, θ* = 0 is stationary
    J = field_jacobian(build_rule("simgd", 0.0, {}), (ld, lg), game.d_params(), game.g_params(),
                       zero_sum=True).numpy()
    a = np.exp(v + sigma**2 / 2)                                    # E eˣ
    second = np.outer(a, a) * np.where(np.eye(n) > 0, math.exp(sigma**2), 1.0)   # E eˣeˣᵀ
    M = np.block([[np.zeros((n, n)), 0.5 * np.diag(a)], [-0.5 * np.diag(a), -0.5 * second]])
    np.testing.assert_allclose(J, M, rtol=1e-10, atol=1e-12)
    # elsewhere the point is not stationary: the check above can fail
    put(game, v + 0.1, np.full(n, 0.1))
    ld, _ = game.expected_losses(8)
    assert torch.autograd.grad(ld, game.d_params())[0].abs().max() > 1e-3


def test_cli_training_on_the_fullrank_game(tmp_path):
    cfg = make_cfg("dataset=gaussian", "arch=fullrank", "method=jare", "dataset.mu=0.5",
                   "dataset.dim=1", "eta=0.05", "steps=400", "log_every=100", "checkpoint_every=400")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed"
    start = math.sqrt(2) * 0.05                                     # init_offset 0.05 on φ and θ
    assert summary["metrics"]["dist_equilibrium"] < 0.2 * start


def test_fullrank_belongs_to_the_gaussian_game():
    with pytest.raises(ConfigError, match="arch='fullrank' is invalid: dataset=mog allows arch: mlp"):
        validate(make_cfg("arch=fullrank"))
