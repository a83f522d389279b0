"""The Gaussian game's players (docs/methods.md §4): G_φ(z) = φ + z and D_θ(x) = θᵀx, no bias."""
from __future__ import annotations

import torch
from torch import nn


class AffineGenerator(nn.Module):
    def __init__(self, phi: torch.Tensor):
        super().__init__()
        self.phi = nn.Parameter(phi.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi + z


class LinearDiscriminator(nn.Module):
    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.theta
