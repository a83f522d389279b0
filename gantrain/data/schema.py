"""Dataclass schemas of the image datasets (the ``dataset`` config group).

Registered in ``gantrain.config.schema.GROUPS["dataset"]`` by ``DATASET_SCHEMAS``. This module
imports only ``gantrain.errors``, so ``gantrain.config.schema`` may import it at load time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gantrain.errors import _check, _one_of

# Each dataset has one resolution (the papers' architectures are built for it), fake_images any.
RESOLUTIONS = {"cifar10": 32, "celeba": 64, "imagenet": 128}


def _check_common(name: str, resolution: int, workers: int) -> None:
    if name in RESOLUTIONS:
        _check(resolution == RESOLUTIONS[name], "dataset.resolution", resolution,
               f"dataset={name} has resolution {RESOLUTIONS[name]}")
    _check(workers >= 0, "dataset.workers", workers, "must be >= 0 (0: load in the main process)")


@dataclass
class Cifar10Data:
    name: str = "cifar10"
    root: str = "data/cifar10"     # holds cifar-10-batches-py/ (relative: to the current directory)
    split: str = "train"           # train (50 000 images) | test (10 000)
    download: bool = False         # fetch cifar-10-python.tar.gz into root (needs internet)
    resolution: int = 32
    workers: int = 2               # unused: CIFAR-10 is held on the device as one uint8 tensor

    def __post_init__(self):
        _one_of("dataset.split", self.split, ("train", "test"))
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class CelebAData:
    name: str = "celeba"
    root: str = "data/celeba"      # holds celeba/img_align_celeba/*.jpg (or img_align_celeba/*.jpg)
    split: str = "train"           # train | valid | test (the official partition) | all
    resolution: int = 64
    crop: Optional[int] = 108      # center crop (pixels) before the resize; null: largest square
    workers: int = 2               # DataLoader worker processes decoding the JPEGs

    def __post_init__(self):
        _one_of("dataset.split", self.split, ("train", "valid", "test", "all"))
        _check(self.crop is None or self.crop >= 1, "dataset.crop", self.crop,
               "must be null or a number of pixels >= 1")
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class ImageNetData:
    name: str = "imagenet"
    root: str = "data/imagenet"    # holds <split>/<class>/*.JPEG (torchvision ImageFolder layout)
    split: str = "train"           # train | val (val also in class folders)
    resolution: int = 128
    workers: int = 2

    def __post_init__(self):
        _one_of("dataset.split", self.split, ("train", "val"))
        _check_common(self.name, self.resolution, self.workers)


@dataclass
class FakeImagesData:
    name: str = "fake_images"
    split: str = "train"
    resolution: int = 32           # any size >= 4 (32, 64, 128 match the image architectures)
    size: int = 2048               # number of images
    workers: int = 2               # unused: the images are held on the device

    def __post_init__(self):
        _one_of("dataset.split", self.split, ("train",))
        _check(self.resolution >= 4, "dataset.resolution", self.resolution, "must be >= 4")
        _check(self.size >= 1, "dataset.size", self.size, "must be >= 1")
        _check_common(self.name, self.resolution, self.workers)


DATASET_SCHEMAS: dict[str, type] = {"cifar10": Cifar10Data, "celeba": CelebAData,
                                    "imagenet": ImageNetData, "fake_images": FakeImagesData}
