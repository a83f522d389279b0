"""Mixture of Gaussians on a ring (docs/experiments.md §B): ``modes`` modes of std ``std`` at radius
``radius``; each batch holds the modes in turn, so every batch is balanced (B/K samples per mode
when K divides B, and each half-batch too when K divides B/2)."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from gantrain.games.base import Game
from gantrain.metrics.modes import mode_metrics
from gantrain.models.mlp import MLPDiscriminator, mlp


class MixtureGame(Game):
    def __init__(self, data_cfg, arch_cfg, loss: str, device: str, dtype: torch.dtype, eval_cfg):
        super().__init__(loss, device, dtype)
        if arch_cfg.name != "mlp":
            raise ValueError(f"arch={arch_cfg.name!r} does not fit dataset=mog; allowed: mlp")
        k, self.std = int(data_cfg.modes), float(data_cfg.std)
        angles = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
        self.centers = float(data_cfg.radius) * torch.stack([angles.cos(), angles.sin()], dim=1)
        self.centers = self.centers.to(self.device, dtype)
        self.z_dim, self.z_std = int(arch_cfg.z_dim), float(arch_cfg.z_std)
        self.generator = mlp(self.z_dim, 2, int(arch_cfg.depth), int(arch_cfg.width))
        self.discriminator = MLPDiscriminator(2, int(arch_cfg.depth), int(arch_cfg.width))
        self._finish_init()
        self.eval_cfg = eval_cfg
        # A fixed latent set, drawn from its own seed, so metrics are comparable across steps and
        # evaluation never consumes the training RNG (resume stays exact).
        g = torch.Generator(device=self.device).manual_seed(int(eval_cfg.seed))
        self.eval_z = self.z_std * self.randn((int(eval_cfg.num_samples), self.z_dim), g)

    def sample_real(self, n, rng):
        idx = torch.arange(n, device=self.device) % self.centers.shape[0]
        return self.centers[idx] + self.std * self.randn((n, 2), rng)

    def sample_z(self, n, rng):
        return self.z_std * self.randn((n, self.z_dim), rng)

    @torch.no_grad()
    def eval_samples(self) -> torch.Tensor:
        return self.generator(self.eval_z)

    def eval_metrics(self):
        return mode_metrics(self.eval_samples(), self.centers, self.std,
                            float(self.eval_cfg.std_multiple), float(self.eval_cfg.mode_min_share))

    def save_images(self, step: int, run_dir: Path) -> list[Path]:
        from gantrain.plots import scatter_kde

        path = Path(run_dir) / "images" / f"samples_step_{step:06d}.png"
        scatter_kde(self.eval_samples().cpu().double().numpy(), self.centers.cpu().double().numpy(),
                    path, title=f"step {step}")
        return [path]
