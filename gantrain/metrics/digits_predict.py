"""Using the digits classifier (``gantrain.metrics.digits_classifier``): images rounded to 8-bit
levels, then classified channel by channel; a stacked image's mode is ``100 c0 + 10 c1 + c2`` and
its features are its three channels' features concatenated."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gantrain.metrics import defaults
from gantrain.metrics.digits_classifier import (
    CHUNK,
    NUM_CLASSES,
    RESOLUTION,
    DigitsClassifier,
    to_unit,
)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] rounded to 8-bit levels (as a saved PNG); uint8 images pass unchanged.

    Args:
        images: [B, C, R, R] floats in [-1, 1] (clamped) or uint8.

    Returns:
        uint8 [B, C, R, R], on the same device.
    """
    if images.dtype == torch.uint8:
        return images
    return torch.round((images.detach().float().clamp(-1, 1) + 1) * 127.5).to(torch.uint8)


def _prepare(model: nn.Module, images: torch.Tensor, quantize: Optional[str]) -> torch.Tensor:
    """[B, C, R, R] -> [B * C, 1, R, R] in the model's dtype and device, quantised as asked."""
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[-2:] != (RESOLUTION,
                                                                                      RESOLUTION):
        raise ValueError(f"expected images [B, 1 or 3, {RESOLUTION}, {RESOLUTION}], got "
                         f"{tuple(images.shape)}")
    if quantize not in (None, "uint8"):
        raise ValueError(f"quantize={quantize!r}: allowed None, uint8")
    p = next(model.parameters())
    if images.dtype == torch.uint8 or quantize == "uint8":
        x = to_unit(to_uint8(images), p.dtype, p.device)
    else:
        x = images.detach().to(p.device, p.dtype).clamp(-1, 1)
    return x.reshape(-1, 1, RESOLUTION, RESOLUTION)


def predict(model: DigitsClassifier, images: torch.Tensor,
            quantize: Optional[str] = defaults.QUANTIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and logits of one- or three-channel images, channel by channel, ``CHUNK`` digits
    per forward pass.

    Args:
        model: the classifier.
        images: [B, C, 16, 16], C = 1 or 3, floats in [-1, 1] or uint8.
        quantize: ``"uint8"`` rounds float images to 8-bit levels first; None: no rounding.

    Returns:
        (features [B, C * features] float64: the channels' features concatenated,
         logits [B, C, 10] float64), on the CPU.
    """
    c = images.shape[1] if images.dim() == 4 else 0
    x = _prepare(model, images, quantize)
    with torch.no_grad():
        f = torch.cat([model.features(part) for part in x.split(CHUNK)]) if len(x) else \
            model.features(x)
        logits = model.logits(f)
    b = x.shape[0] // c
    return f.reshape(b, -1).double().cpu(), logits.reshape(b, c, NUM_CLASSES).double().cpu()


def modes_of(logits: torch.Tensor) -> torch.Tensor:
    """The mode of each image from its per-channel logits: ``sum_c digit_c * 10^(C-1-c)``.

    Args:
        logits: [B, C, 10].

    Returns:
        int64 [B] in 0..10^C - 1 (0..999 for stacked digits).
    """
    digits = logits.argmax(-1)
    c = digits.shape[1]
    place = torch.tensor([NUM_CLASSES ** (c - 1 - i) for i in range(c)], device=digits.device)
    return (digits * place).sum(1)


def classify(model: DigitsClassifier, images: torch.Tensor,
             quantize: Optional[str] = defaults.QUANTIZE) -> torch.Tensor:
    """The mode of each image (its digit, or 100 c0 + 10 c1 + c2 for stacked digits).

    Args:
        model: the classifier.
        images: [B, 1 or 3, 16, 16], floats in [-1, 1] or uint8.
        quantize: as for ``predict``.

    Returns:
        int64 [B] on the CPU.
    """
    return modes_of(predict(model, images, quantize)[1])


def features(model: DigitsClassifier, images: torch.Tensor,
             quantize: Optional[str] = defaults.QUANTIZE) -> torch.Tensor:
    """The penultimate features of each image (channels' features concatenated).

    Args:
        model: the classifier.
        images: [B, 1 or 3, 16, 16], floats in [-1, 1] or uint8.
        quantize: as for ``predict``.

    Returns:
        float64 [B, C * features] on the CPU.
    """
    return predict(model, images, quantize)[0]
