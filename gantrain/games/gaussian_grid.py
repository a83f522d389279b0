"""The Gaussian game (docs/methods.md §4) for G independent runs at once: a grid dimension in front.

Every grid point k has its own parameters φ_k = phi[k] and θ_k = theta[k] (both [G, n]); all points
see the same data and latent batches. The losses are each point's minibatch mean, *summed over the
grid*, so that the gradient of the summed loss with respect to φ_k or θ_k is exactly point k's own
gradient (the other terms do not depend on it), and so are the second derivatives that the
regularized rules take (double backprop of a sum of per-point squared norms). The existing rule
objects therefore give every point's update in one call; a tensor γ with one value per point (see
``UpdateRule``) gives each point its own regularizer weight.

Sampling, the equilibrium, the start point and the loss formulas are ``GaussianGame``'s, so a grid
point follows the same trajectory as a single run with the same seed, rule, γ and step size.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from gantrain.games.gaussian import GaussianGame
from gantrain.losses import Mean
from gantrain.models.linear import AffineGenerator, LinearDiscriminator


def grid_mean(t: torch.Tensor) -> torch.Tensor:
    """Each grid point's mean over its batch (last dim), summed over the grid (first dim)."""
    return t.mean(-1).sum()


class Shifted(NamedTuple):
    """The samples φ_k + z_b of every point k, kept factored: z [B, n] is shared, φ [G, n]."""
    z: torch.Tensor
    shift: torch.Tensor

    def dense(self) -> torch.Tensor:
        """The samples as one tensor [G, B, n]."""
        return self.shift.unsqueeze(-2) + self.z


class GridGenerator(AffineGenerator):
    """G_{φ_k}(z) = φ_k + z for every point: φ [G, n], z [B, n] → ``Shifted`` (as [G, B, n])."""

    def forward(self, z: torch.Tensor) -> Shifted:
        return Shifted(z, self.phi)


class GridDiscriminator(LinearDiscriminator):
    """D_{θ_k}(x) = θ_kᵀx for every point: θ [G, n]; x [B, n] (shared data), ``Shifted`` or
    [G, B, n] → logits [G, B].

    Generated samples are scored as θ_kᵀφ_k + θ_kᵀz_b, which never builds the [G, B, n] tensor:
    with thousands of points that tensor, and the batched products over it, dominate a step.
    """

    def forward(self, x: torch.Tensor | Shifted) -> torch.Tensor:
        if isinstance(x, Shifted):
            return self.theta @ x.z.T + (self.theta * x.shift).sum(-1, keepdim=True)
        if x.dim() == 2:
            return self.theta @ x.T
        return (x * self.theta.unsqueeze(-2)).sum(-1)


class GaussianGridGame(GaussianGame):
    """``size`` copies of the Gaussian game, all starting at the config's start point."""

    batch_mean = staticmethod(grid_mean)
    sample_dims = 2

    def __init__(self, data_cfg, arch_cfg, loss: str, device: str, dtype: torch.dtype, size: int):
        super().__init__(data_cfg, arch_cfg, loss, device, dtype)
        if size < 1:
            raise ValueError(f"a grid needs at least one point; got size={size}")
        self.size = int(size)
        phi = self.generator.phi.detach()
        theta = self.discriminator.theta.detach()
        self.generator = GridGenerator(phi.expand(self.size, -1))
        self.discriminator = GridDiscriminator(theta.expand(self.size, -1))
        self._finish_init()

    def losses(self, x_real: torch.Tensor, z: torch.Tensor,
               mean: Mean | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(Σ_k L_D,k, Σ_k L_G,k), L_·,k point k's minibatch loss (or ``mean``'s expectation)."""
        return super().losses(x_real, z, grid_mean if mean is None else mean)

    def input_gradient_sq(self, x: torch.Tensor | Shifted) -> torch.Tensor:
        """[G, B]: every point's own ∇ₓD_{θ_k}, so shared samples are copied per point first."""
        x = x.dense() if isinstance(x, Shifted) else x.expand(self.size, *x.shape[-2:])
        return super().input_gradient_sq(x)

    # ``expected_losses`` is inherited: its quadrature weights broadcast over the grid and its
    # weighted sum adds the points' exact expected losses, as ``losses`` adds their batch losses.

    def distances(self) -> torch.Tensor:
        """‖w_k − w*‖ for every point, [G]."""
        with torch.no_grad():
            dg = (self.generator.phi - self.v).square().sum(-1)
            dd = self.discriminator.theta.square().sum(-1)
            return torch.sqrt(dg + dd)

    def point_param_norms(self) -> torch.Tensor:
        """‖(φ_k, θ_k)‖ for every point, [G] (the per-point ``param_norm``)."""
        with torch.no_grad():
            return torch.sqrt(sum(p.square().sum(-1) for p in self.g_params() + self.d_params()))

    def eval_metrics(self):
        return dict(dist_equilibrium=self.distances().tolist())

    def point(self, k: int) -> dict[str, torch.Tensor]:
        """Point k's parameters, named like a single game's state dicts."""
        return dict(phi=self.generator.phi[k].detach().clone(),
                    theta=self.discriminator.theta[k].detach().clone())
