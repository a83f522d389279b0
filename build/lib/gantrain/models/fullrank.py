"""The full-rank discriminator of JARE Appendix B (docs/methods.md §4): D_θ(x) = θᵀeˣ, eˣ taken
elementwise, no bias. With the affine generator G_φ(z) = φ + z it is the Gaussian game's
`arch=fullrank`; its equilibrium is the linear game's, φ* = v, θ* = 0."""
from __future__ import annotations

import torch
from torch import nn


class ExpDiscriminator(nn.Module):
    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x) @ self.theta
