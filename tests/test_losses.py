"""The GAN losses (docs/methods.md §1) against closed forms at logits where softplus and relu are known
exactly: softplus(0) = log 2, softplus(log 3) = log 4, softplus(−log 3) = log(4/3)."""
from __future__ import annotations

import math

import pytest
import torch

from gantrain.losses import gan_losses

LOG3 = math.log(3)
D_REAL = torch.tensor([0.0, LOG3, -LOG3], dtype=torch.float64)
D_FAKE = torch.tensor([LOG3, 0.0, 0.0, -LOG3], dtype=torch.float64)   # a batch of another size
# Σ softplus(−d_real) = log 2 + log(4/3) + log 4;  Σ softplus(d_fake) = log 4 + 2 log 2 + log(4/3)
SP_MINUS_REAL = (math.log(2) + math.log(4 / 3) + math.log(4)) / 3
SP_FAKE = (math.log(4) + 2 * math.log(2) + math.log(4 / 3)) / 4
SP_MINUS_FAKE = (math.log(4 / 3) + 2 * math.log(2) + math.log(4)) / 4   # softplus(−d_fake)


def close(a, b):
    assert a.item() == pytest.approx(b, abs=1e-14, rel=1e-14)


def test_standard_is_the_non_saturating_gan():
    ld, lg = gan_losses("standard", D_REAL, D_FAKE)
    close(ld, SP_MINUS_REAL + SP_FAKE)    # −E log σ(D(x)) − E log(1 − σ(D(G(z))))
    close(lg, SP_MINUS_FAKE)              # −E log σ(D(G(z)))


def test_standard_at_zero_logits_is_log_2_each():
    zero = torch.zeros(5, dtype=torch.float64)
    ld, lg = gan_losses("standard", zero, zero)
    close(ld, 2 * math.log(2))
    close(lg, math.log(2))


def test_minimax_is_zero_sum():
    ld, lg = gan_losses("minimax", D_REAL, D_FAKE)
    close(ld, SP_MINUS_REAL + SP_FAKE)
    close(lg, -(SP_MINUS_REAL + SP_FAKE))   # L_G = −L_D = E log(1 − σ(D(G(z)))) + const
    # and the generator's gradient is −∇L_D through the fake logits
    fake = D_FAKE.clone().requires_grad_(True)
    gd = torch.autograd.grad(gan_losses("minimax", D_REAL, fake)[0], fake)[0]
    gg = torch.autograd.grad(gan_losses("minimax", D_REAL, fake)[1], fake)[0]
    torch.testing.assert_close(gg, -gd, atol=0, rtol=0)
    torch.testing.assert_close(gd, torch.sigmoid(D_FAKE) / 4, atol=1e-15, rtol=1e-14)


def test_wgan():
    ld, lg = gan_losses("wgan", D_REAL, D_FAKE)
    close(ld, D_FAKE.mean().item() - D_REAL.mean().item())   # E D(G(z)) − E D(x)
    close(lg, -D_FAKE.mean().item())
    ld, lg = gan_losses("wgan", torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.5, 0.0]))
    assert ld.item() == pytest.approx(-0.5 - 2.0) and lg.item() == pytest.approx(0.5)


def test_hinge():
    d_real = torch.tensor([0.5, 2.0, -1.0, 1.0])      # relu(1 − x) = 0.5, 0, 2, 0
    d_fake = torch.tensor([-2.0, 0.5, -0.5])           # relu(1 + x) = 0, 1.5, 0.5
    ld, lg = gan_losses("hinge", d_real, d_fake)
    assert ld.item() == pytest.approx(2.5 / 4 + 2.0 / 3, abs=1e-7)
    assert lg.item() == pytest.approx(2.0 / 3, abs=1e-7)   # −E D(G(z)), not the hinge


def test_standard_gradients_are_sigmoids():
    """∂L_D/∂d_real = −σ(−x)/B, ∂L_D/∂d_fake = σ(x)/B, ∂L_G/∂d_fake = −σ(−x)/B."""
    real, fake = D_REAL.clone().requires_grad_(True), D_FAKE.clone().requires_grad_(True)
    ld, lg = gan_losses("standard", real, fake)
    g_real, g_fake = torch.autograd.grad(ld, (real, fake))
    torch.testing.assert_close(g_real, -torch.sigmoid(-D_REAL) / 3, atol=1e-15, rtol=1e-14)
    torch.testing.assert_close(g_fake, torch.sigmoid(D_FAKE) / 4, atol=1e-15, rtol=1e-14)
    g_gen = torch.autograd.grad(lg, fake)[0]
    torch.testing.assert_close(g_gen, -torch.sigmoid(-D_FAKE) / 4, atol=1e-15, rtol=1e-14)


def test_standard_is_stable_at_large_logits():
    """softplus, not log(1 + exp): float32 exp(100) overflows."""
    big = torch.tensor([100.0, -100.0])
    ld, lg = gan_losses("standard", big, big)
    assert ld.item() == pytest.approx(100.0) and lg.item() == pytest.approx(50.0)
    ld, _ = gan_losses("standard", torch.tensor([100.0]), torch.tensor([-100.0]))
    assert ld.item() == pytest.approx(2 * math.exp(-100), rel=1e-5)


@pytest.mark.parametrize("name", ["standard", "minimax", "wgan", "hinge"])
def test_mean_is_the_expectation_operator(name):
    """The Gaussian game's analysis passes a quadrature sum as ``mean``."""
    weights = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    d_real = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    d_fake = torch.tensor([-0.7, 0.4, 1.5], dtype=torch.float64)
    weighted = gan_losses(name, d_real, d_fake, mean=lambda t: (weights * t).sum())
    # the same expectation as a plain mean over samples repeated in proportion to the weights
    rep = torch.tensor([0, 0, 1, 2])
    plain = gan_losses(name, d_real[rep], d_fake[rep])
    for a, b in zip(weighted, plain):
        assert a.item() == pytest.approx(b.item(), abs=1e-14)


def test_unknown_loss_names_the_value():
    with pytest.raises(ValueError, match="loss='nope'.*standard"):
        gan_losses("nope", D_REAL, D_FAKE)
