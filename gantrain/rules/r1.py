"""`r1`: SimGD with the gradient penalty on real data (Mescheder, Geiger and Nowozin 2018).

The discriminator minimizes L_D + γ·R1 with R1 = ½ E_{x~p_data} ‖∇ₓD(x)‖²; the generator's loss is
unchanged (docs/methods.md §8). The penalty is a plain batch mean of per-sample terms, so its batch
estimate is already unbiased: ``regularizer_estimate=unbiased`` is refused (config schema). The
samples are constants (the penalty is the discriminator's alone), and L_G is no longer −L_D, so the
one-backward shortcut of the minimax loss is not taken.

On DiracGAN the field's Jacobian at the equilibrium has eigenvalues −γ/2 ± √(γ²/4 − f′(0)²).
"""
from __future__ import annotations

from dataclasses import dataclass

from gantrain.lazy import torch
from gantrain.rules.base import Delegating, FieldRule
from gantrain.rules.options import SameBatchOptions
from gantrain.rules.simgd import SimGD


@dataclass
class PenaltyOptions(SameBatchOptions):
    why = "its penalty is a plain batch mean of ‖∇ₓD‖², already unbiased"


class R1(Delegating, FieldRule):
    name = "r1"
    Options = PenaltyOptions
    second_order = True
    color = "navy"
    on = "real"   # which samples the penalty averages over

    def __init__(self, gamma: float = 0.0, **options):
        super().__init__(gamma, **options)
        self._rule = SimGD()

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """∇ₓD = θ on every sample, so the penalty γθ²/2 adds −γ to the θθ entry:
        λ² + γλ + a² = 0, λ = −γ/2 ± √(γ²/4 − a²)."""
        from gantrain.closed_forms import DIRAC_SLOPE as a
        from gantrain.closed_forms import roots

        return roots(1, float(gamma), a * a)

    @classmethod
    def gaussian_quadratic(cls, s, gamma):
        """u_θ gains γθ (∇ₓθᵀx = θ on every sample): Theorem 1 with s → s + 2γ."""
        return (4, 2 * s + 4 * gamma, 1)

    def _penalized(self, game, loss_d: torch.Tensor, terms: torch.Tensor, mean) -> torch.Tensor:
        gamma = self.gamma
        if isinstance(gamma, torch.Tensor):   # one γ per grid point: terms are [G, ...]
            gamma = gamma.reshape(-1, *[1] * (terms.dim() - 1))
        return loss_d + mean(gamma * terms)

    def losses(self, game, x_real, z):
        loss_d, loss_g = game.losses(x_real, z)
        x = x_real if self.on == "real" else game.generator(z)
        return self._penalized(game, loss_d, game.input_gradient_sq(x), game.batch_mean), loss_g

    def expected_losses(self, game, order):
        loss_d, loss_g = game.expected_losses(order)
        x, w = game.quadrature_inputs(self.on, order)
        return self._penalized(game, loss_d, game.input_gradient_sq(x),
                               lambda t: (w * t).sum()), loss_g

    def direction(self, losses, d_params, g_params, create_graph=False, zero_sum=False):
        return self._rule.direction(losses, d_params, g_params, create_graph, zero_sum=False)
