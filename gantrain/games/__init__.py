"""Games: a data distribution, a latent distribution and the two players (config group ``dataset``).

``DATASETS`` (``gantrain.data.registry``) maps ``dataset=<name>`` to its options schema, which
carries the dataset's facts (image data or not, the architectures that fit it, per-sample
gradients); ``build_game`` builds its game: ``ImageGame`` for image data, the schema's own
``build_game`` otherwise.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gantrain.data.registry import DATASETS, image_datasets

__all__ = ["DATASETS", "build_game", "image_datasets"]

if TYPE_CHECKING:
    from gantrain.games.base import Game

def build_game(cfg, device: str = "cpu", dtype=None) -> "Game":
    """The game of ``cfg.dataset`` with ``cfg``'s players and loss.

    Args:
        cfg: the run's checked config (``gantrain.config.validate``'s ``Checked``).
        device: where the players live.
        dtype: their precision (default: torch.float32).
    Returns:
        a ``Game``.
    """
    import torch

    name = cfg.dataset.name
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is not known; allowed: {', '.join(DATASETS)}")
    dtype = torch.float32 if dtype is None else dtype
    if DATASETS[name].image:
        from gantrain.games.images import ImageGame

        return ImageGame(cfg, device, dtype)
    return DATASETS[name].build_game(cfg, device, dtype)
