"""Fully connected G and D of the toy experiments: ``depth`` hidden ReLU layers of ``width`` units,
linear output, Xavier-uniform weights and zero biases (the JARE code's initialisation)."""
from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, out_dim: int, depth: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(depth):
        layers += [nn.Linear(dim, width), nn.ReLU()]
        dim = width
    layers.append(nn.Linear(dim, out_dim))
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net


class MLPDiscriminator(nn.Module):
    def __init__(self, data_dim: int, depth: int, width: int):
        super().__init__()
        self.net = mlp(data_dim, 1, depth, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
