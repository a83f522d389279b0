"""Games: a data distribution, a latent distribution and the two players (config group ``dataset``)."""
from __future__ import annotations

import torch

from gantrain.games.base import Game

IMAGE_DATASETS = ("cifar10", "celeba", "imagenet", "fake_images")
DATASETS = ("mog", "gaussian", "dirac", *IMAGE_DATASETS)


def build_game(cfg, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Game:
    name = cfg.dataset.name
    if name == "gaussian":
        from gantrain.games.gaussian import GaussianGame
        return GaussianGame(cfg.dataset, cfg.arch, cfg.loss.name, device, dtype)
    if name == "dirac":
        from gantrain.games.dirac import DiracGame
        return DiracGame(cfg.dataset, cfg.arch, cfg.loss.name, device, dtype)
    if name == "mog":
        from gantrain.games.mog import MixtureGame
        return MixtureGame(cfg.dataset, cfg.arch, cfg.loss.name, device, dtype, cfg.eval)
    if name in IMAGE_DATASETS:
        from gantrain.games.images import ImageGame
        return ImageGame(cfg, device, dtype)
    raise ValueError(f"dataset={name!r} is not known; allowed: {', '.join(DATASETS)}")
