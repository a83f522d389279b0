"""Mode metrics for mixtures of Gaussians (docs/experiments.md §B).

A sample is high quality when it lies within ``std_multiple`` standard deviations of its nearest
mode; a mode is covered when at least ``min_share`` of all samples are high-quality samples of it.
``mode_kl`` is KL(p ‖ uniform) of the histogram of high-quality samples over modes (log K when no
sample is high quality: all mass off the modes is the worst case).
"""
from __future__ import annotations

import math

import torch


def mode_metrics(samples: torch.Tensor, centers: torch.Tensor, std: float,
                 std_multiple: float = 3.0, min_share: float = 0.01) -> dict[str, float]:
    dist = torch.cdist(samples.double(), centers.double())
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= std_multiple * std
    k, n = centers.shape[0], samples.shape[0]
    counts = torch.bincount(nearest[good], minlength=k).double()
    covered = int((counts >= min_share * n).sum())
    if counts.sum() > 0:
        p = counts / counts.sum()
        nz = p > 0
        kl = float((p[nz] * torch.log(p[nz] * k)).sum())
    else:
        kl = math.log(k)
    return dict(modes_covered=covered, high_quality_fraction=float(good.double().mean()), mode_kl=kl)
