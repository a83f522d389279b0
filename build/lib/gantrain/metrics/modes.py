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
    """The mode metrics of generated samples of a mixture of Gaussians (module docstring).

    Args:
        samples: generated samples [N, dim].
        centers: the mixture's modes [K, dim].
        std: the modes' standard deviation.
        std_multiple: a sample within this many ``std`` of its nearest mode is high quality.
        min_share: a mode is covered by at least this share of all N samples.

    Returns:
        ``modes_covered`` (0..K), ``high_quality_fraction`` (0..1) and ``mode_kl`` (0..log K).
    """
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
