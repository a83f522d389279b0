"""The Numerics of GANs' indicator divergence (``loss=indicator``): L_D = E_q[D] − E_p[D],
L_G = −E_q[D], against hand-computed batches and the Gaussian game's closed form."""
from __future__ import annotations

import pytest
import torch

from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.games.gaussian import GaussianGame
from gantrain.losses import gan_losses
from tests.helpers import make_cfg


def test_batch_values_by_hand():
    d_real = torch.tensor([1.0, 2.0, 3.0])
    d_fake = torch.tensor([-1.0, 0.5])
    loss_d, loss_g = gan_losses("indicator", d_real, d_fake)
    # E_q[D] = -0.25, E_p[D] = 2
    assert loss_d.item() == pytest.approx(-0.25 - 2.0)
    assert loss_g.item() == pytest.approx(0.25)
    # no saturation: the gradients are the constant 1/B weights of the means, whatever the logits
    d_real = torch.tensor([50.0, -50.0], requires_grad=True)
    d_fake = torch.tensor([40.0, -40.0, 0.0, 7.0], requires_grad=True)
    loss_d, loss_g = gan_losses("indicator", d_real, d_fake)
    gr, gf = torch.autograd.grad(loss_d, (d_real, d_fake), retain_graph=True)
    torch.testing.assert_close(gr, torch.full((2,), -0.5))
    torch.testing.assert_close(gf, torch.full((4,), 0.25))
    (gf_g,) = torch.autograd.grad(loss_g, d_fake)
    torch.testing.assert_close(gf_g, torch.full((4,), -0.25))


def gaussian_game(mu: float, sigma: float, dim: int, phi, theta) -> GaussianGame:
    cfg = make_cfg("dataset=gaussian", "loss=indicator", f"dataset.mu={mu}",
                   f"dataset.sigma={sigma}", f"dataset.dim={dim}",
                   f"dataset.init_phi={list(phi)}", f"dataset.init_theta={list(theta)}")
    validate(cfg)
    return GaussianGame(cfg.dataset, cfg.arch, cfg.loss.name, "cpu", torch.float64)


@pytest.mark.parametrize("mu,sigma,phi,theta", [
    (2.0, 0.2, (0.3, 1.7), (0.5, -0.4)),
    (6.0, 0.5, (-1.0, 2.0), (0.05, 0.05)),
])
def test_gaussian_game_closed_form(mu, sigma, phi, theta):
    """x ~ N(v, σ²I), G_φ(z) = φ + z, D_θ(x) = θᵀx: E L_D = θᵀ(φ − v), E L_G = −θᵀφ, whatever σ,
    so g_θ = φ − v and g_φ = −θ (exact quadrature against the hand formula)."""
    game = gaussian_game(mu, sigma, 2, phi, theta)
    v = torch.tensor([0.0, mu], dtype=torch.float64)
    p, t = torch.tensor(phi, dtype=torch.float64), torch.tensor(theta, dtype=torch.float64)
    loss_d, loss_g = game.expected_losses()
    assert loss_d.item() == pytest.approx(float(t @ (p - v)), abs=1e-12)
    assert loss_g.item() == pytest.approx(float(-t @ p), abs=1e-12)
    (g_theta,) = torch.autograd.grad(loss_d, game.discriminator.theta, retain_graph=True)
    (g_phi,) = torch.autograd.grad(loss_g, game.generator.phi)
    torch.testing.assert_close(g_theta, p - v)
    torch.testing.assert_close(g_phi, -t)


def test_config_group_and_errors():
    cfg = make_cfg("dataset=fake_images", "loss=indicator")
    validate(cfg)
    assert cfg.loss.name == "indicator"
    with pytest.raises(ValueError, match="allowed: .*indicator"):
        gan_losses("indicatr", torch.zeros(1), torch.zeros(1))
    cfg.loss.name = "indicatr"
    with pytest.raises(ConfigError, match="loss.name"):
        validate(cfg)
