"""``dataset=fake_images``: deterministic generated images, for tests and CPU smoke runs (no
download): a two-color gradient under a few soft color blobs, image ``i`` a function of
``(seed, i, resolution)`` alone."""
from __future__ import annotations

import hashlib

import torch

FAKE_IMAGES_SEED = 0

_BLOBS = 4
_FAKE_PARAMS = 7 + 7 * _BLOBS   # two gradient colors and an angle; per blob center, width, color, alpha


def _fake_params(seed: int, i: int) -> torch.Tensor:
    digest = hashlib.blake2b(f"gantrain.fake_images:{seed}:{i}".encode(), digest_size=8).digest()
    g = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
    return torch.rand(_FAKE_PARAMS, generator=g, dtype=torch.float64)


def make_fake_images(n: int, resolution: int, seed: int = FAKE_IMAGES_SEED,
                     chunk: int = 128) -> torch.Tensor:
    """``n`` deterministic images, uint8 ``[n, 3, R, R]`` on the CPU: a two-color linear gradient
    under a few soft Gaussian color blobs. Image ``i`` depends only on ``(seed, i, R)``."""
    r = resolution
    axis = (torch.arange(r, dtype=torch.float64) + 0.5) / r        # pixel centers in (0, 1)
    out = torch.empty(n, 3, r, r, dtype=torch.uint8)
    for lo in range(0, n, chunk):
        p = torch.stack([_fake_params(seed, i) for i in range(lo, min(n, lo + chunk))])
        m = len(p)
        angle = p[:, 6:7] * (2 * torch.pi)                          # [m, 1]
        # t = ((u - 1/2) cos + (v - 1/2) sin) / sqrt(2) + 1/2 in [0, 1], separable in u and v
        tu = ((axis - 0.5) * torch.cos(angle) / 2 ** 0.5).float()  # [m, R] (columns)
        tv = ((axis - 0.5) * torch.sin(angle) / 2 ** 0.5 + 0.5).float()  # [m, R] (rows)
        t = tv[:, :, None] + tu[:, None, :]                         # [m, R, R]
        c0, c1 = p[:, 0:3].float(), p[:, 3:6].float()
        img = c0[:, :, None, None] + (c1 - c0)[:, :, None, None] * t[:, None]
        for b in range(_BLOBS):
            q = p[:, 7 + 7 * b: 14 + 7 * b]
            width = 0.05 + 0.2 * q[:, 2:3]
            alpha = 0.5 + 0.5 * q[:, 6:7]
            gu = (alpha * torch.exp(-(axis - q[:, 0:1]) ** 2 / (2 * width ** 2))).float()
            gv = torch.exp(-(axis - q[:, 1:2]) ** 2 / (2 * width ** 2)).float()
            a = (gv[:, :, None] * gu[:, None, :])[:, None]          # [m, 1, R, R]
            color = q[:, 3:6].float()[:, :, None, None]
            img = img + (color - img) * a                           # alpha compositing
        out[lo:lo + m] = (img.clamp_(0, 1) * 255).round_().to(torch.uint8)
    return out
