"""pytorch-fid's TF-ported Inception v3, loaded from a local file only (docs/experiments.md §E).

The architecture is pytorch-fid's ``fid_inception_v3`` (torchvision's inception_v3 with 1008
classes and the patched FID blocks), built here without its ``load_state_dict_from_url`` call:
the state dict is read from ``weights_path()`` with ``torch.load(weights_only=True)`` and nothing
is ever downloaded. One forward pass gives both pool3 features (FID) and 1008-way logits (IS).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid.inception import (
    FIDInceptionA,
    FIDInceptionC,
    FIDInceptionE_1,
    FIDInceptionE_2,
    _inception_v3,
)
from torch import nn

from gantrain.metrics import defaults


def weights_path() -> Path:
    """Where the Inception weights are read from.

    Returns:
        ``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth`` (honours
        ``$TORCH_HOME`` at call time).
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / defaults.WEIGHTS_FILE


def weights_available() -> bool:
    """Returns:
        Whether the weights file (``weights_path()``) exists.
    """
    return weights_path().is_file()


def missing_weights_message() -> str:
    """Returns:
        One line naming the missing weights file and where to put it.
    """
    p = weights_path()
    return (f"Inception weights not found: put {p.name} (pytorch-fid's FID Inception, "
            f"{defaults.WEIGHTS_URL}) in {p.parent}/ ; Inception score and FID are reported as missing")


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: Optional[Path] = None) -> str:
    """SHA-256 of the weights file (memoised per path, size and mtime). The official file's digest
    starts with the 8 hex digits in its name.

    Args:
        path: the file; None: ``weights_path()``.

    Returns:
        The hex digest.
    """
    path = Path(path or weights_path())
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def build_fid_inception() -> nn.Module:
    """pytorch-fid's ``fid_inception_v3`` architecture with uninitialised weights (no download).

    Returns:
        The network (load the weights with ``load_state_dict``, as ``InceptionFeatures`` does).
    """
    inception = _inception_v3(num_classes=defaults.NUM_CLASSES, aux_logits=False, weights=None)
    inception.Mixed_5b = FIDInceptionA(192, pool_features=32)
    inception.Mixed_5c = FIDInceptionA(256, pool_features=64)
    inception.Mixed_5d = FIDInceptionA(288, pool_features=64)
    inception.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    inception.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    inception.Mixed_7b = FIDInceptionE_1(1280)
    inception.Mixed_7c = FIDInceptionE_2(2048)
    return inception


_TRUNK = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
          "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
          "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Clamp to [-1, 1] and round to the 256 levels of an 8-bit image (the values a saved PNG
    would give back).

    Args:
        images: images in about [-1, 1].

    Returns:
        The rounded images, same shape.
    """
    return torch.round((images.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


class InceptionFeatures(nn.Module):
    """pool3 features [B, 2048] and logits [B, 1008] of images in [-1, 1] ([B, 3, H, W]; one
    channel is repeated to three). Eval mode, no gradients.

    Args:
        path: the weights file; None: ``weights_path()``.
        device: where the network runs.
        resize: images are resized to ``resize`` x ``resize`` (None: as they are).
        quantize: ``"uint8"`` rounds to 8-bit levels first (``quantize``); None: no rounding.
        is_logits: ``"unbiased"`` (pool3 @ fc.weight.T, the reference IS code) or ``"biased"``.
    """

    def __init__(self, path: Optional[Path] = None, device: torch.device | str = "cpu",
                 resize: Optional[int] = defaults.RESIZE, quantize: Optional[str] = defaults.QUANTIZE,
                 is_logits: str = defaults.IS_LOGITS):
        super().__init__()
        if is_logits not in ("unbiased", "biased"):
            raise ValueError(f"is_logits={is_logits!r}: allowed unbiased, biased")
        if quantize not in (None, "uint8"):
            raise ValueError(f"quantize={quantize!r}: allowed None, uint8")
        self.path = Path(path or weights_path())
        self.resize, self.quantize, self.is_logits = resize, quantize, is_logits
        self.net = build_fid_inception()
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state)
        self.net.requires_grad_(False)
        # NHWC: ~1.7x the throughput of NCHW on CPU (measured), the fast layout on CUDA too
        self.eval().to(device, memory_format=torch.channels_last)

    @property
    def device(self) -> torch.device:
        """The network's device."""
        return self.net.fc.weight.device

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            images: [B, 3 or 1, H, W] in [-1, 1].

        Returns:
            (pool3 [B, 2048], logits [B, 1008]) in float32.
        """
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.quantize:
            x = quantize(x)
        if self.resize:
            # pytorch-fid resizes images in [0, 1] and then maps them to [-1, 1]; bilinear
            # interpolation commutes with that affine map, so resizing in [-1, 1] is the same.
            x = F.interpolate(x, size=(self.resize, self.resize), mode=defaults.RESIZE_MODE,
                              align_corners=False)
        x = x.contiguous(memory_format=torch.channels_last)
        for name in _TRUNK:
            x = getattr(self.net, name)(x)
        pool3 = torch.flatten(x, 1)
        if self.is_logits == "unbiased":
            logits = pool3 @ self.net.fc.weight.T
        else:
            logits = self.net.fc(pool3)
        return pool3, logits

    def protocol(self) -> dict:
        """Returns:
            What the features depend on: the weights (name and SHA-256 prefix), resizing,
            quantisation and the IS logits.
        """
        return {"weights_file": self.path.name, "weights_sha256": weights_sha256(self.path)[:16],
                "resize": self.resize, "resize_mode": defaults.RESIZE_MODE, "quantize": self.quantize,
                "is_logits": self.is_logits}

    def extract(self, batches: Iterable[torch.Tensor], limit: Optional[int] = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """The features of many images.

        Args:
            batches: an iterable of [B, 3, H, W] batches in [-1, 1].
            limit: at most this many images (None: all).

        Returns:
            (pool3 [N, 2048], logits [N, 1008]) as float64 arrays.
        """
        pools, logits, n = [], [], 0
        for batch in batches:
            if limit is not None:
                batch = batch[:limit - n]
            if batch.shape[0] == 0:
                break
            p, l = self(batch)
            pools.append(p.double().cpu())
            logits.append(l.double().cpu())
            n += batch.shape[0]
            if limit is not None and n >= limit:
                break
        if not pools:
            raise ValueError("no images to compute Inception features of")
        return torch.cat(pools).numpy(), torch.cat(logits).numpy()

