"""GAN losses (docs/methods.md §1). Each player minimizes its own loss.

A loss is a function ``(d_real, d_fake, mean) -> (L_D, L_G)`` of the discriminator's logits on
real and generated samples, found by name in ``LOSSES`` (gantrain's own below, and any installed
package's entry points in the ``gantrain.losses`` group). Its facts are attributes of the
function: ``zero_sum`` (L_G = −L_D exactly, which saves rules a backward pass).

``mean`` is the expectation operator: a minibatch mean in training, a quadrature sum in the
exact analysis of the Gaussian game, so the same formulas serve both.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from gantrain.lazy import torch
from gantrain.registry import Registry

if TYPE_CHECKING:
    Mean = Callable[[torch.Tensor], torch.Tensor]
else:
    Mean = Callable

LOSSES = Registry("loss", "gantrain.losses", {
    name: f"gantrain.losses:{name}" for name in ("standard", "minimax", "wgan", "hinge", "indicator")})


def loss(name: str, zero_sum: bool = False):
    """Mark a function as the loss ``name`` (its facts as attributes).

    Args:
        name: its config name, ``loss=<name>``.
        zero_sum: L_G = −L_D exactly.
    Returns:
        a decorator returning the function itself.
    """
    def mark(fn):
        fn.name, fn.zero_sum = name, zero_sum
        return fn
    return mark


def _saturating_d(d_real, d_fake, mean):
    F = torch.nn.functional
    return mean(F.softplus(-d_real)) + mean(F.softplus(d_fake))


@loss("standard")
def standard(d_real, d_fake, mean):
    """The non-saturating loss: L_G = E softplus(−D(G(z)))."""
    return _saturating_d(d_real, d_fake, mean), mean(torch.nn.functional.softplus(-d_fake))


@loss("minimax", zero_sum=True)
def minimax(d_real, d_fake, mean):
    """The minimax (Jensen-Shannon) loss: L_G = −L_D."""
    loss_d = _saturating_d(d_real, d_fake, mean)
    return loss_d, -loss_d


@loss("wgan")
def wgan(d_real, d_fake, mean):
    """The Wasserstein loss (no Lipschitz constraint here)."""
    return mean(d_fake) - mean(d_real), -mean(d_fake)


@loss("indicator")
def indicator(d_real, d_fake, mean):
    """The Numerics of GANs' indicator divergence (f = the indicator of {1}, whose conjugate is
    f*(t) = t): L_D = E_q[D] − E_p[D], L_G = −E_q[D], the code's gan_type "indicator". The same
    formulas as wgan, but with no Lipschitz constraint anywhere: a named setting of its own so that
    runs and reports say which objective the paper meant."""
    return mean(d_fake) - mean(d_real), -mean(d_fake)


@loss("hinge")
def hinge(d_real, d_fake, mean):
    """The hinge loss."""
    relu = torch.nn.functional.relu
    return mean(relu(1 - d_real)) + mean(relu(1 + d_fake)), -mean(d_fake)


def gan_losses(name: str, d_real, d_fake, mean: Mean | None = None):
    """(L_D, L_G) from discriminator logits on real and generated samples.

    Args:
        name: ``loss.name``.
        d_real, d_fake: the logits.
        mean: the expectation operator (default: ``torch.mean``).
    Returns:
        the pair (L_D, L_G).
    """
    if name not in LOSSES:
        raise ValueError(f"loss={name!r} is not known; allowed: {', '.join(LOSSES)}")
    return LOSSES[name](d_real, d_fake, torch.mean if mean is None else mean)
