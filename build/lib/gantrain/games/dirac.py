"""The DiracGAN of Mescheder, Geiger & Nowozin 2018 (docs/experiments.md §G).

Real data δ₀, G_φ(z) = φ, D_θ(x) = θ·x (Mescheder's θ and ψ are gantrain's φ and θ), so
L_D = softplus(−D(0)) + softplus(θφ) = log 2 + softplus(θφ). With the minimax loss (their f(t) =
−log(1 + e^{−t})) the SimGD field is −u = σ(θφ)·(θ, −φ): a rotation about the equilibrium (0, 0)
whose Jacobian there has eigenvalues ±f′(0)i = ±i/2, so SimGD never converges.

It is exactly the Gaussian game with dim = 1, μ = 0, σ = 0 (G_φ(z) = φ + 0·z), so the quadrature,
``eval_metrics`` (dist_equilibrium), ``move_to_point(..., "equilibrium")`` and every analysis of
that game apply unchanged. σ = 0 makes every sample and quadrature node the same point, so a batch
of any size, and a quadrature of any order, gives the exact expected losses: the game has no
randomness.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch

from gantrain.errors import ConfigError
from gantrain.games.gaussian import GaussianGame

# Mescheder et al.'s f is the GAN loss; the non-saturating generator loss has the same Jacobian at
# the equilibrium (only f′(0) = ½ enters there), so it is meaningful too. wgan/hinge/indicator are
# other games.
LOSSES = ("minimax", "standard")


def check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ConfigError(f"loss={loss!r} is invalid for dataset=dirac: the DiracGAN's f is the "
                          f"GAN loss; allowed: {', '.join(LOSSES)}")


def gaussian_data(data_cfg) -> SimpleNamespace:
    """The Gaussian game's data config that is the DiracGAN: dim 1, μ = 0, σ = 0."""
    return SimpleNamespace(name="gaussian", dim=1, mu=0.0, sigma=0.0, init_offset=0.0,
                           init_phi=[float(data_cfg.init_phi)],
                           init_theta=[float(data_cfg.init_theta)])


class DiracGame(GaussianGame):
    def __init__(self, data_cfg, arch_cfg, loss: str, device: str, dtype: torch.dtype):
        check_loss(loss)
        if arch_cfg.name != "linear":
            raise ConfigError(f"arch={arch_cfg.name!r} is invalid for dataset=dirac: allowed: "
                              "linear (D_θ(x) = θ·x)")
        super().__init__(gaussian_data(data_cfg), arch_cfg, loss, device, dtype)
