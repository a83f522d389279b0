"""The datasets (config group ``dataset``) by name: toy distributions and image sets.

``DATASETS`` maps ``dataset=<name>`` to its options schema, which carries the dataset's facts
(image data or not, the architectures that fit it, per-sample gradients): gantrain's own and those
of installed packages registering in the ``gantrain.datasets`` entry-point group. It lives below
``gantrain.games`` (which builds the games) so that data never imports games. Torch-free.
"""
from __future__ import annotations

from gantrain.registry import Registry

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
