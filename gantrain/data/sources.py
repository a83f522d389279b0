"""Opening each image dataset: from its files to uint8 images, checked before any training work.

An opener takes the ``ImageData`` being built (its config, root, split, resolution and device)
and returns a :class:`Source`: the whole split as one uint8 tensor on the device (cifar10,
fake_images), or the files with the transform that decodes them (celeba, imagenet). Each image
dataset's schema names its opener (``gantrain.data.schema``), so a plugin dataset brings its own.
"""
from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path
from typing import Any, NamedTuple, Optional, Protocol
from urllib.error import URLError

import numpy as np
import torch
from torch.utils.data import Dataset

from gantrain.errors import ConfigError, first_line


class OpenedData(Protocol):
    """What an opener reads of the ``gantrain.data.images.ImageData`` being built (a protocol, so
    this module, which ``images`` imports, does not import it back)."""
    name: str
    cfg: Any
    root: Any
    split: str
    resolution: int
    device: Any


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
REFERENCE_PERMUTATION_SEED = 0       # imagenet: reference images in a fixed shuffled order
# CelebA's official partition (list_eval_partition.txt) by image number, used without that file.
CELEBA_RANGES = {"train": (1, 162770), "valid": (162771, 182637), "test": (182638, 202599)}
CELEBA_CODES = {"train": 0, "valid": 1, "test": 2}


class Source(NamedTuple):
    """An opened dataset: ``images`` (uint8 [N, 3, R, R] on the device) or ``files`` (decoded by
    the loader's workers), the reference ``order`` (None: the split's), and ``preprocess`` (what
    was done to the images, recorded with every score)."""
    images: Optional[torch.Tensor] = None
    files: Optional["ImageFiles"] = None
    order: Optional[torch.Tensor] = None
    preprocess: str = "none"


def open_cifar10(data: "OpenedData") -> Source:
    """CIFAR-10 from ``dataset.root`` (downloaded there when ``dataset.download``), on the device."""
    from torchvision.datasets import CIFAR10
    folder = data.root / CIFAR10.base_folder
    files = [f for f, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    missing = [f for f in files if not (folder / f).is_file()]
    if missing and not data.cfg.download:
        raise ConfigError(
            f"dataset=cifar10: no CIFAR-10 at {folder} ("
            f"{'no such folder' if not folder.is_dir() else 'missing ' + ', '.join(missing)}); set "
            f"dataset.download=true to fetch it (needs internet), or copy the extracted "
            f"cifar-10-python.tar.gz there (dataset.root=DIR holding {CIFAR10.base_folder}/)")
    try:
        ds = CIFAR10(str(data.root), train=data.split == "train", download=data.cfg.download)
        array = np.asarray(ds.data)
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1:] != (32, 32, 3) \
                or len(array) == 0:
            raise ValueError(f"unexpected image array {array.dtype} {tuple(array.shape)}")
    except (URLError, ConnectionError, socket.timeout) as e:
        raise ConfigError(
            f"dataset=cifar10: downloading CIFAR-10 into {data.root} failed "
            f"({first_line(e)}); without internet, copy the extracted cifar-10-python.tar.gz "
            f"to {folder} and set dataset.download=false") from None
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError,
            TypeError, AttributeError, IndexError) as e:
        detail = first_line(e)
        if isinstance(e, RuntimeError) and "corrupted" in detail:
            detail = "a file's md5 checksum does not match CIFAR-10's"
        else:
            detail = f"{type(e).__name__}: {detail}"
        raise ConfigError(
            f"dataset=cifar10: CIFAR-10 files under {folder} are corrupted or unreadable "
            f"({detail}); replace them with a fresh extract of cifar-10-python.tar.gz (or "
            f"delete the folder and set dataset.download=true)") from None
    images = torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()
    return Source(images=images.to(data.device), preprocess="none")


def open_fake_images(data: "OpenedData") -> Source:
    """The generated blob images, on the device."""
    from gantrain.data.fake import FAKE_IMAGES_SEED, make_fake_images

    return Source(images=make_fake_images(data.cfg.size, data.resolution).to(data.device),
                  preprocess=f"generated(blobs, seed={FAKE_IMAGES_SEED})")


def open_digits(data: "OpenedData") -> Source:
    """scikit-learn's digits of ``dataset.split``, one channel, on the device."""
    from gantrain.data.digits import PREPROCESS, digit_images

    images, _ = digit_images(data.split)
    return Source(images=images.to(data.device), preprocess=PREPROCESS)


def open_stacked_digits(data: "OpenedData") -> Source:
    """``dataset.size`` stacked triples of the digits of ``dataset.split``, on the device."""
    from gantrain.data.digits import PREPROCESS, STACK, stacked_digits

    images, _ = stacked_digits(int(data.cfg.size), data.split, int(data.cfg.draw_seed))
    return Source(images=images.to(data.device),
                  preprocess=f"{PREPROCESS},stacked({STACK},draw_seed={data.cfg.draw_seed})")


def open_celeba(data: "OpenedData") -> Source:
    """CelebA's aligned images under ``dataset.root``, decoded by the loader's workers."""
    root = data.root
    candidates = [root / "celeba" / "img_align_celeba", root / "img_align_celeba",
                  root / "img_align_celeba" / "img_align_celeba"]   # torchvision, plain, Kaggle
    folder, names = None, []
    for c in candidates:
        names = image_names(c)
        if names:
            folder = c
            break
    if folder is None:
        raise ConfigError(
            f"dataset=celeba: no CelebA images (*.jpg) in {candidates[0]} nor {candidates[1]}; "
            f"extract img_align_celeba.zip (the aligned and cropped CelebA images) so that "
            f"{candidates[0]}/000001.jpg exists, or set dataset.root to the folder above "
            f"celeba/img_align_celeba (CelebA cannot be downloaded here)")
    if data.split != "all":
        names = celeba_split(names, data.split, [folder.parent, root, root / "celeba"], folder)
    files = ImageFiles(folder, names, CenterCropResize(data.cfg.crop, data.resolution))
    check_first_image(data, files)
    return Source(files=files, preprocess=(f"center_crop({data.cfg.crop or 'min_side'}),"
                                           f"resize({data.resolution},bilinear,antialias)"))


def open_imagenet(data: "OpenedData") -> Source:
    """ImageNet's class folders under ``dataset.root``, decoded by the loader's workers."""
    from torchvision.datasets import ImageFolder
    split_dir = data.root / data.split
    layout = (f"{split_dir}/<class>/*.JPEG (torchvision ImageFolder layout, e.g. "
              f"ILSVRC2012_img_{data.split}.tar extracted into one folder per class)")
    if not split_dir.is_dir():
        raise ConfigError(f"dataset=imagenet: no ImageNet {data.split} folder at {split_dir}; "
                          f"expected {layout}; ImageNet cannot be downloaded automatically")
    try:
        folder = ImageFolder(str(split_dir))
    except (FileNotFoundError, OSError, RuntimeError) as e:
        raise ConfigError(f"dataset=imagenet: {first_line(e)}; expected {layout}") from None
    names = [os.path.relpath(p, split_dir) for p, _ in folder.samples]
    del folder
    files = ImageFiles(split_dir, names, ResizeCenterCrop(data.resolution))
    # ImageFolder sorts by class: the first n images would be a few classes only.
    g = torch.Generator().manual_seed(REFERENCE_PERMUTATION_SEED)
    order = torch.randperm(len(names), generator=g)
    check_first_image(data, files)
    return Source(files=files, order=order,
                  preprocess=f"resize_shorter({data.resolution},bilinear,antialias),center_crop")


def check_first_image(data: "OpenedData", files: "ImageFiles") -> None:
    """Decode the first image now: an unreadable file or a too large crop fails before any work."""
    from PIL import Image
    path = files.path(0)
    try:
        with Image.open(path) as im:
            w, h = im.size
        files[0]
    except (OSError, RuntimeError) as e:
        raise ConfigError(f"dataset={data.name}: cannot read {path} "
                          f"({first_line(e.__cause__ or e)})") from None
    crop = getattr(data.cfg, "crop", None)
    if crop is not None and crop > min(w, h):
        raise ConfigError(f"dataset.crop={crop!r} is invalid: larger than the {w}x{h} images "
                          f"in {files.base}")


# --- decoding files (celeba, imagenet) ------------------------------------------------------
class CenterCropResize:
    """CelebA: center crop ``crop`` pixels (None: the largest square), resize to ``size``."""

    def __init__(self, crop: Optional[int], size: int):
        self.crop, self.size = crop, size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF
        c = self.crop or min(x.shape[-2:])
        x = TF.center_crop(x, [c, c])
        return TF.resize(x, [self.size, self.size], antialias=True)


class ResizeCenterCrop:
    """ImageNet: resize the shorter side to ``size``, center crop ``size`` x ``size``."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF
        x = TF.resize(x, [self.size], antialias=True)
        return TF.center_crop(x, [self.size, self.size])


class ImageFiles(Dataset):
    """Files under ``base`` (names kept in one numpy bytes array: no per-name Python objects for
    the forked workers to copy), decoded with PIL to RGB and transformed to uint8 [3, R, R]."""

    def __init__(self, base: Path, names: list[str], transform):
        self.base = str(base)
        self.names = np.array([os.fsencode(n) for n in names], dtype=np.bytes_)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.names)

    def path(self, i: int) -> str:
        return os.path.join(self.base, os.fsdecode(self.names[i]))

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms.v2 import functional as TF
        path = self.path(i)
        try:
            with Image.open(path) as im:
                x = TF.pil_to_tensor(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as e:   # PIL.UnidentifiedImageError is an OSError
            raise RuntimeError(f"cannot read image {path}: {first_line(e)}") from e
        return self.transform(x).contiguous()


def image_names(folder: Path) -> list[str]:
    """The image files directly in ``folder``, sorted (none when it cannot be read)."""
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it
                          if e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file())
    except OSError:
        return []


def celeba_split(names: list[str], split: str, places: list[Path], folder: Path) -> list[str]:
    """The images of CelebA's official ``split``: from list_eval_partition.txt/.csv when there,
    else by image number (the file's ranges)."""
    code = CELEBA_CODES[split]
    for place in places:
        for fname in ("list_eval_partition.txt", "list_eval_partition.csv"):
            path = place / fname
            if path.is_file():
                part = {}
                for line in path.read_text().splitlines():
                    fields = line.replace(",", " ").split()
                    if len(fields) == 2 and fields[1].isdigit():
                        part[os.path.splitext(fields[0])[0]] = int(fields[1])
                chosen = [n for n in names if part.get(os.path.splitext(n)[0]) == code]
                if not chosen:
                    raise ConfigError(f"dataset.split={split!r} is invalid: {path} lists no "
                                      f"image of {folder} in that split (use dataset.split=all)")
                return chosen
    lo, hi = CELEBA_RANGES[split]
    stems = [os.path.splitext(n)[0] for n in names]
    if not all(s.isdigit() for s in stems):
        raise ConfigError(f"dataset.split={split!r} is invalid: the images in {folder} are not "
                          f"numbered like CelebA's and there is no list_eval_partition.txt "
                          f"(use dataset.split=all)")
    chosen = [n for n, s in zip(names, stems) if lo <= int(s) <= hi]
    if not chosen:
        raise ConfigError(f"dataset.split={split!r} is invalid: no image of {folder} is in CelebA's "
                          f"{split} range {lo:06d}-{hi:06d} (use dataset.split=all)")
    return chosen
