"""Games: a data distribution, a latent distribution and the two players (config group ``dataset``).

``DATASETS`` maps ``dataset=<name>`` to its options schema, which carries the dataset's facts
(image data or not, the architectures that fit it, per-sample gradients) and builds its game:
gantrain's own and those of installed packages registering in the ``gantrain.datasets``
entry-point group.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gantrain.registry import Registry

if TYPE_CHECKING:
    from gantrain.games.base import Game

DATASETS = Registry("dataset", "gantrain.datasets", {
    "gaussian": "gantrain.games.schema:GaussianData",
    "dirac": "gantrain.games.schema:DiracData",
    "mog": "gantrain.games.schema:MixtureData",
    "cifar10": "gantrain.data.schema:Cifar10Data",
    "celeba": "gantrain.data.schema:CelebAData",
    "imagenet": "gantrain.data.schema:ImageNetData",
    "fake_images": "gantrain.data.schema:FakeImagesData",
    "digits": "gantrain.data.schema:DigitsData",
    "stacked_digits": "gantrain.data.schema:StackedDigitsData",
})


def image_datasets() -> tuple[str, ...]:
    """The names of the image datasets."""
    return DATASETS.where(lambda d: d.image)


def build_game(cfg, device: str = "cpu", dtype=None) -> "Game":
    """The game of ``cfg.dataset`` with ``cfg``'s players and loss.

    Args:
        cfg: the composed config.
        device: where the players live.
        dtype: their precision (default: torch.float32).
    Returns:
        a ``Game``.
    """
    import torch

    name = cfg.dataset.name
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is not known; allowed: {', '.join(DATASETS)}")
    return DATASETS[name].build_game(cfg, device, torch.float32 if dtype is None else dtype)
