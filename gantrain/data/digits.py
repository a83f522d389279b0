"""scikit-learn's 1 797 handwritten 8x8 digits (inside its wheel: no download) as uint8 images.

``digit_images(split)`` gives one-channel images upsampled to ``RESOLUTION`` = 16 pixels, the
smallest side that every DC-GAN style net of ``gantrain.models.dcgan`` takes (dcgan4 halves it four
times). Upsampling is bilinear (``align_corners=False``) on the 17 grey levels scaled to [0, 1],
then rounded to uint8: the strokes stay smooth instead of becoming 2x2 blocks that a transposed
convolution reproduces trivially.

The split is fixed: a permutation of all 1 797 digits drawn with ``SPLIT_SEED``; its last
``HELD_OUT`` digits are the held-out split (``test``), the rest the training split (``train``).

``stacked_digits(n, split, seed)`` draws ``n`` triples of digits of ``split``, independently and
uniformly, and stacks them as the three colour channels: 1 000 modes (label 100 a + 10 b + c), the
digits-scale form of Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017; Lin et al. 2018).
"""
from __future__ import annotations

from functools import lru_cache

import torch

from gantrain.errors import ConfigError

RESOLUTION = 16          # pixels per side after upsampling (the source images are 8x8)
SOURCE_RESOLUTION = 8
GREY_LEVELS = 16         # load_digits' pixel values are 0..16
NUM_DIGITS = 1797
HELD_OUT = 300           # the last HELD_OUT digits of the fixed permutation: split "test"
SPLIT_SEED = 0
SPLITS = ("train", "test")
NUM_CLASSES = 10
STACK = 3                # digits per stacked image (one per channel)
# What was done to the images, recorded with every score (ImageData.protocol)
PREPROCESS = (f"sklearn_digits({SOURCE_RESOLUTION}->{RESOLUTION},bilinear,"
              f"permutation(seed={SPLIT_SEED}))")


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ConfigError(f"the digits datasets need scikit-learn, which cannot be imported "
                          f"({e}); install it with `pip install scikit-learn` (make install does)"
                          ) from None
    return load_digits(return_X_y=True)


@lru_cache(maxsize=None)
def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Every digit, upsampled, uint8 [1797, 1, 16, 16], and its label, in the split's order."""
    x, y = _load_digits()
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1, 1, SOURCE_RESOLUTION,
                                                        SOURCE_RESOLUTION) / GREY_LEVELS
    x = torch.nn.functional.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear",
                                        align_corners=False)
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    labels = torch.as_tensor(y, dtype=torch.int64)
    if len(images) != NUM_DIGITS:
        raise ConfigError(f"scikit-learn's load_digits gave {len(images)} digits, expected "
                          f"{NUM_DIGITS}: a changed scikit-learn would change every score")
    order = torch.randperm(NUM_DIGITS, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return images[order].contiguous(), labels[order].contiguous()


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"dataset.split={split!r} is invalid: allowed: {', '.join(SPLITS)}")


def digit_images(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """The digits of one split.

    Args:
        split: ``train`` (1 497 digits) or ``test`` (the 300 held out).
    Returns:
        (images uint8 [N, 1, 16, 16] on the CPU, labels int64 [N] in 0..9).
    """
    _check_split(split)
    images, labels = _all_digits()
    rows = slice(0, NUM_DIGITS - HELD_OUT) if split == "train" else slice(NUM_DIGITS - HELD_OUT, None)
    return images[rows], labels[rows]


def stacked_digits(n: int, split: str = "train", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` stacked-digit images: three digits of ``split`` drawn independently and uniformly
    (with ``torch.Generator().manual_seed(seed)``) as the three channels.

    Args:
        n: how many images.
        split: whose digits (``train`` or ``test``).
        seed: the draw's seed.
    Returns:
        (images uint8 [n, 3, 16, 16], labels int64 [n] = 100 * first + 10 * second + third digit).
    """
    _check_split(split)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"dataset.size={n!r} is invalid: must be an integer >= 1")
    images, labels = digit_images(split)
    idx = torch.randint(len(images), (n, STACK), generator=torch.Generator().manual_seed(seed))
    stacked = images[idx.reshape(-1)].reshape(n, STACK, RESOLUTION, RESOLUTION)
    place = torch.tensor([NUM_CLASSES ** (STACK - 1 - c) for c in range(STACK)])
    return stacked.contiguous(), (labels[idx] * place).sum(1)
