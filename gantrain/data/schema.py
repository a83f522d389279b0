"""Dataclass schemas of the image datasets (the ``dataset`` config group).

Registered by name in ``gantrain.data.registry.DATASETS``. This module imports no torch, so config
validation may import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from gantrain.checks import check, one_of


class ImageDataSchema:
    """Facts shared by the image datasets: they fit every image architecture, and their game is
    ``gantrain.games.images.ImageGame`` (``gantrain.games.build_game``). Whether per-sample
    gradients work depends on the net (batch norm couples the samples), so validation asks the
    arch, not ``per_sample``."""
    image: ClassVar[bool] = True
    per_sample: ClassVar[bool] = False
    opener: ClassVar[str]   # "module:function" opening it (gantrain.data.sources), given the ImageData
    channels: ClassVar[int] = 3   # colour channels of its images (the nets are built for them)
    # "module:Class" scoring its samples (``eval.every``): Inception score and FID by default
    evaluator: ClassVar[str] = "gantrain.metrics.evaluator:ImageEvaluator"

    @classmethod
    def compatible_archs(cls) -> tuple[str, ...]:
        """Every image architecture."""
        from gantrain.models import image_archs

        return image_archs()


# Each dataset has one resolution (the papers' architectures are built for it), fake_images any.
RESOLUTIONS = {"cifar10": 32, "celeba": 64, "imagenet": 128, "digits": 16, "stacked_digits": 16}


def _check_common(name: str, resolution: int, workers: int) -> None:
    if name in RESOLUTIONS:
        check(resolution == RESOLUTIONS[name], "dataset.resolution", resolution,
               f"dataset={name} has resolution {RESOLUTIONS[name]}")
    check(workers >= 0, "dataset.workers", workers, "must be >= 0 (0: load in the main process)")


@dataclass
class Cifar10Data(ImageDataSchema):
    name: str = "cifar10"
    opener = "gantrain.data.sources:open_cifar10"
    root: str = "data/cifar10"     # holds cifar-10-batches-py/ (relative: to the current directory)
    split: str = "train"           # train (50 000 images) | test (10 000)
    download: bool = False         # fetch cifar-10-python.tar.gz into root (needs internet)
    resolution: int = 32
    workers: int = 2               # unused: CIFAR-10 is held on the device as one uint8 tensor

    def __post_init__(self):
        one_of("dataset.split", self.split, ("train", "test"))
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class CelebAData(ImageDataSchema):
    name: str = "celeba"
    opener = "gantrain.data.sources:open_celeba"
    root: str = "data/celeba"      # holds celeba/img_align_celeba/*.jpg (or img_align_celeba/*.jpg)
    split: str = "train"           # train | valid | test (the official partition) | all
    resolution: int = 64
    crop: Optional[int] = 108      # center crop (pixels) before the resize; null: largest square
    workers: int = 2               # DataLoader worker processes decoding the JPEGs

    def __post_init__(self):
        one_of("dataset.split", self.split, ("train", "valid", "test", "all"))
        check(self.crop is None or self.crop >= 1, "dataset.crop", self.crop,
               "must be null or a number of pixels >= 1")
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class ImageNetData(ImageDataSchema):
    name: str = "imagenet"
    opener = "gantrain.data.sources:open_imagenet"
    root: str = "data/imagenet"    # holds <split>/<class>/*.JPEG (torchvision ImageFolder layout)
    split: str = "train"           # train | val (val also in class folders)
    resolution: int = 128
    workers: int = 2

    def __post_init__(self):
        one_of("dataset.split", self.split, ("train", "val"))
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class FakeImagesData(ImageDataSchema):
    name: str = "fake_images"
    opener = "gantrain.data.sources:open_fake_images"
    split: str = "train"
    resolution: int = 32           # any size >= 4 (32, 64, 128 match the image architectures)
    size: int = 2048               # number of images
    workers: int = 2               # unused: the images are held on the device

    def __post_init__(self):
        one_of("dataset.split", self.split, ("train",))
        check(self.resolution >= 4, "dataset.resolution", self.resolution, "must be >= 4")
        check(self.size >= 1, "dataset.size", self.size, "must be >= 1")
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class DigitsData(ImageDataSchema):
    """scikit-learn's 8x8 digits upsampled to 16x16, one channel (gantrain.data.digits)."""
    name: str = "digits"
    opener = "gantrain.data.sources:open_digits"
    channels = 1
    evaluator = "gantrain.metrics.digits_eval:DigitsEvaluator"
    split: str = "train"           # train (1 497 digits) | test (the 300 held out)
    resolution: int = 16
    workers: int = 0               # unused: the digits are held on the device

    def __post_init__(self):
        one_of("dataset.split", self.split, ("train", "test"))
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class StackedDigitsData(ImageDataSchema):
    """Three independently drawn digits as the three channels: 1 000 modes (gantrain.data.digits)."""
    name: str = "stacked_digits"
    opener = "gantrain.data.sources:open_stacked_digits"
    evaluator = "gantrain.metrics.digits_eval:DigitsEvaluator"
    split: str = "train"           # whose digits are stacked: train | test (the held-out ones)
    resolution: int = 16
    size: int = 50000              # stacked images drawn once (about 50 of each of the 1 000 modes)
    draw_seed: int = 0             # the draw of the triples (not the run's seed: the data stay fixed)
    workers: int = 0               # unused: the images are held on the device

    def __post_init__(self):
        one_of("dataset.split", self.split, ("train", "test"))
        check(self.size >= 1, "dataset.size", self.size, "must be >= 1")
        _check_common(self.name, self.resolution, self.workers)


def dataset_schemas() -> dict[str, type]:
    """The image datasets' schemas by name (``DATASETS``, plugins included)."""
    from gantrain.data.registry import DATASETS

    return {name: DATASETS[name] for name in DATASETS.where(lambda d: d.image)}
