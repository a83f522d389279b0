"""The isotropic Gaussian game (docs/methods.md §4, docs/experiments.md §A).

Data x ~ N(v, σ²I_n) with v = μ·e_n; G_φ(z) = φ + z with z ~ N(0, σ²I_n); D_θ(x) = θᵀx
(`arch=linear`), or App. B's full-rank D_θ(x) = θᵀeˣ (`arch=fullrank`). Both have the equilibrium
φ* = v, θ* = 0. ``expected_losses`` gives the expectation over data and latents by Gauss–Hermite
quadrature, so update fields and their Jacobians can be compared with the theorems to rounding
error (for eˣ the rule is not exact: k points match E e^{σξ} to a relative k!σ^{2k}/(2k)!, at
k = 8 about 1e-16 for σ = 0.2 and 6e-12 for σ = 0.7; raise ``analysis.quadrature_order`` for wider
data).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from gantrain.games.base import Game
from gantrain.losses import gan_losses
from gantrain.models.fullrank import ExpDiscriminator
from gantrain.models.linear import AffineGenerator, LinearDiscriminator

# arch → the discriminator of the game (the generator is always G_φ(z) = φ + z)
DISCRIMINATORS = {"linear": LinearDiscriminator, "fullrank": ExpDiscriminator}


class GaussianGame(Game):
    def __init__(self, data_cfg, arch_cfg, loss: str, device: str, dtype: torch.dtype):
        super().__init__(loss, device, dtype)
        if arch_cfg.name not in DISCRIMINATORS:
            raise ValueError(f"arch={arch_cfg.name!r} does not fit dataset=gaussian; allowed: "
                             "linear (D_θ(x) = θᵀx), fullrank (D_θ(x) = θᵀeˣ)")
        self.arch = arch_cfg.name
        n, self.sigma = int(data_cfg.dim), float(data_cfg.sigma)
        self.dim = n
        self.v = torch.zeros(n, dtype=torch.float64)
        self.v[-1] = float(data_cfg.mu)
        offset = float(data_cfg.init_offset)
        phi = (torch.tensor(list(data_cfg.init_phi), dtype=torch.float64)
               if data_cfg.init_phi is not None else self.v + offset)
        theta = (torch.tensor(list(data_cfg.init_theta), dtype=torch.float64)
                 if data_cfg.init_theta is not None else torch.full((n,), offset, dtype=torch.float64))
        for key, t in (("init_phi", phi), ("init_theta", theta)):
            if t.shape != (n,):
                raise ValueError(f"dataset.{key} has {t.numel()} entries; must have dataset.dim={n}")
        self.generator = AffineGenerator(phi)
        self.discriminator = DISCRIMINATORS[self.arch](theta)
        self._finish_init()
        self.v = self.v.to(self.device, self.dtype)

    def sample_real(self, n, rng):
        return self.v + self.sigma * self.randn((n, self.dim), rng)

    def sample_z(self, n, rng):
        return self.sigma * self.randn((n, self.dim), rng)

    def eval_metrics(self):
        with torch.no_grad():
            dg = torch.linalg.vector_norm(self.generator.phi - self.v)
            dd = torch.linalg.vector_norm(self.discriminator.theta)
        return dict(dist_generator=dg.item(), dist_discriminator=dd.item(),
                    dist_equilibrium=torch.sqrt(dg ** 2 + dd ** 2).item())

    def quadrature(self, order: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """Nodes ξ and weights w (summing to 1) with Σ w h(ξ) = E h(ξ), ξ ~ N(0, I_n), exact for
        polynomials of degree < 2·order in each coordinate."""
        x1, w1 = np.polynomial.hermite_e.hermegauss(order)
        w1 = w1 / w1.sum()
        nodes = np.array(list(itertools.product(x1, repeat=self.dim)))
        weights = np.prod(np.array(list(itertools.product(w1, repeat=self.dim))), axis=1)
        as_t = lambda a: torch.as_tensor(a, device=self.device, dtype=self.dtype)  # noqa: E731
        return as_t(nodes), as_t(weights)

    def quadrature_inputs(self, on: str, order: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """The quadrature nodes as real (``on="real"``) or generated samples, and their weights:
        Σ w h(x) is the exact expectation of h over that distribution (R1/R2 penalties)."""
        xi, w = self.quadrature(order)
        x = self.v + self.sigma * xi if on == "real" else self.generator(self.sigma * xi)
        return x, w

    def expected_losses(self, order: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """(E L_D, E L_G) at the current parameters by ``order``-point Gauss–Hermite quadrature."""
        xi, w = self.quadrature(order)
        mean = lambda t: (w * t).sum()  # noqa: E731
        d_real = self.discriminator(self.v + self.sigma * xi)
        d_fake = self.discriminator(self.generator(self.sigma * xi))
        return gan_losses(self.loss, d_real, d_fake, mean)
