"""Games: a data distribution, a latent distribution and the two players (config group ``dataset``)."""
from __future__ import annotations

import torch

from gantrain.games.base import Game

DATASETS = ("mog", "gaussian")


def build_game(cfg, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Game:
    name = cfg.dataset.name
    if name == "gaussian":
        from gantrain.games.gaussian import GaussianGame
        return GaussianGame(cfg.dataset, cfg.arch, cfg.loss.name, device, dtype)
    if name == "mog":
        from gantrain.games.mog import MixtureGame
        return MixtureGame(cfg.dataset, cfg.arch, cfg.loss.name, device, dtype, cfg.eval)
    raise ValueError(f"dataset={name!r} is not known; allowed: {', '.join(DATASETS)}")
