"""`gradnorm`: gradient descent on the surrogate loss R = ½‖v‖² alone, u = γ∇R = γHᵀv: JARE's
Appendix C counterexample Γ = −Mᵀ (docs/methods.md §2, §4). Both players step from one point on one
batch like ConOpt, but without the game gradient v, so at an equilibrium its Jacobian is −γMᵀM
(M: the SimGD Jacobian): symmetric, every eigenvalue real (ζ = 0), but τ is the square of M's
condition number, and every zero of ∇R (not only of v) is a rest point.

Not a ``SimultaneousRule`` subclass: those are "v plus a penalty" (every test of them checks that
form); this rule delegates to one whose penalty is ConOpt's and whose plain part is dropped.
"""
from __future__ import annotations

from gantrain.lazy import torch
from gantrain.rules.base import Delegating, FieldRule
from gantrain.rules.options import EstimateOptions
from gantrain.rules.simultaneous import SimultaneousRule


class _SurrogateDescent(SimultaneousRule):
    name = "gradnorm"   # its messages speak for the rule it serves
    penalize_generator = "full"
    penalize_discriminator = "full"

    def _add_scaled(self, g: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return super()._add_scaled(torch.zeros_like(g), r)   # γ∇R, the game gradient dropped


class GradNorm(Delegating, FieldRule):
    name = "gradnorm"
    Options = EstimateOptions
    second_order = True
    color = "tab:gray"
    positive_gamma = "its direction is γ∇½‖v‖²"
    penalize_generator = _SurrogateDescent.penalize_generator
    penalize_discriminator = _SurrogateDescent.penalize_discriminator

    def __init__(self, gamma: float = 0.0, **options):
        super().__init__(gamma, **options)
        zero = (bool((self.gamma == 0).any()) if isinstance(self.gamma, torch.Tensor)
                else self.gamma == 0)
        if zero:  # the base rule would fall back to plain v (SimGD) at γ = 0
            raise ValueError(f"method=gradnorm needs gamma > 0 (its direction is γ∇½‖v‖²), got "
                             f"gamma={gamma}")
        self._rule = _SurrogateDescent(self.gamma, regularizer_estimate=self.regularizer_estimate)

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """−γMᵀM = −γa²I."""
        import numpy as np

        from gantrain.closed_forms import DIRAC_SLOPE as a

        return np.array([-gamma * a * a, -gamma * a * a], dtype=complex)

    @classmethod
    def gaussian_quadratic(cls, s, gamma):
        """−γMᵀM per 2×2 block of M (p = ½, q = s/2)."""
        return (16, gamma * (8 + 4 * s**2), gamma**2)

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """App. B: −γMᵀM."""
        return (gamma * (2 * p2 + q * q), gamma**2 * p2**2)

    def uses_halves(self) -> bool:
        return self._rule.uses_halves()

    def direction(self, *args, **kwargs):
        return self._rule.direction(*args, **kwargs)

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        if self.regularizer_estimate != "variance_corrected":
            return super().train_step(game, opt_d, opt_g, batch_size, rng)
        self._rule.diagnose = self.diagnose   # the inner rule's step draws the per-sample batch
        return self._rule.train_step(game, opt_d, opt_g, batch_size, rng)
