"""GAN losses (docs/methods.md §1). Each player minimizes its own loss.

``mean`` is the expectation operator: a minibatch mean in training, a quadrature sum in the
exact analysis of the Gaussian game, so the same formulas serve both.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Mean = Callable[[torch.Tensor], torch.Tensor]
LOSSES = ("standard", "minimax", "wgan", "hinge", "indicator")


def gan_losses(name: str, d_real: torch.Tensor, d_fake: torch.Tensor,
               mean: Mean = torch.mean) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (L_D, L_G) from discriminator logits on real and generated samples."""
    if name in ("standard", "minimax"):
        loss_d = mean(F.softplus(-d_real)) + mean(F.softplus(d_fake))
        loss_g = -loss_d if name == "minimax" else mean(F.softplus(-d_fake))
    elif name == "wgan":
        loss_d = mean(d_fake) - mean(d_real)
        loss_g = -mean(d_fake)
    elif name == "indicator":
        # The Numerics of GANs' indicator divergence (f = the indicator of {1}, whose conjugate is
        # f*(t) = t): L_D = E_q[D] - E_p[D], L_G = -E_q[D], the code's gan_type "indicator". The
        # same formulas as wgan, but with no Lipschitz constraint anywhere: a named setting of its
        # own so that runs and reports say which objective the paper meant.
        loss_d = mean(d_fake) - mean(d_real)
        loss_g = -mean(d_fake)
    elif name == "hinge":
        loss_d = mean(F.relu(1 - d_real)) + mean(F.relu(1 + d_fake))
        loss_g = -mean(d_fake)
    else:
        raise ValueError(f"loss={name!r} is not known; allowed: {', '.join(LOSSES)}")
    return loss_d, loss_g
