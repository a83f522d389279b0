"""Mode counts of classified samples, as the Stacked MNIST papers report them (issue 31).

Each generated sample is assigned a mode by a classifier (``gantrain.metrics.digits_classifier``:
its digit, or 100 a + 10 b + c for stacked digits). Of the histogram over the K modes:
- ``modes_covered``: the modes holding at least ``min_count`` samples (Metz et al. 2017,
  Srivastava et al. 2017 (VEEGAN) and Lin et al. 2018 (PacGAN) count a mode with one sample);
- ``mode_kl``: KL(p || uniform) = sum_k p_k log(K p_k), p the histogram divided by its total
  (0 log 0 = 0): 0 for a uniform histogram, log K when every sample falls in one mode.

The mixture-of-Gaussians mode metrics are in ``gantrain.metrics.modes``.
"""
from __future__ import annotations

import math

import numpy as np

from gantrain.metrics import defaults


def histogram(labels, num_modes: int) -> np.ndarray:
    """How many samples fell in each mode.

    Args:
        labels: integer mode labels [N], each in 0..num_modes - 1.
        num_modes: K.

    Returns:
        int64 [K].
    """
    labels = np.asarray(labels)
    if num_modes < 1:
        raise ValueError(f"num_modes={num_modes}: must be >= 1")
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"expected integer labels [N], got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_modes):
        raise ValueError(f"labels must be in 0..{num_modes - 1}, got {labels.min()}..{labels.max()}")
    return np.bincount(labels.astype(np.int64), minlength=num_modes).astype(np.int64)


def modes_covered(counts, min_count: int = defaults.MODE_MIN_COUNT) -> int:
    """The modes holding at least ``min_count`` samples.

    Args:
        counts: the histogram [K].
        min_count: the fewest samples of a covered mode (>= 1).

    Returns:
        0..K.
    """
    if min_count < 1:
        raise ValueError(f"min_count={min_count}: must be >= 1")
    return int((np.asarray(counts) >= min_count).sum())


def mode_kl(counts) -> float:
    """KL(histogram as a distribution || uniform over its K modes), in nats.

    Args:
        counts: the histogram [K] (non-negative, not all zero).

    Returns:
        sum_k p_k log(K p_k), in [0, log K].
    """
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if c.ndim != 1 or (c < 0).any() or total <= 0:
        raise ValueError("the histogram must be [K] non-negative counts with a positive total")
    p = c[c > 0] / total
    # log(K p) written as log K + log p: no overflow of K p, and exactly log K for one mode
    return max(0.0, float((p * (math.log(c.size) + np.log(p))).sum()))


def mode_scores(labels, num_modes: int, min_count: int = defaults.MODE_MIN_COUNT) -> dict:
    """The histogram and its scores.

    Args:
        labels: integer mode labels [N >= 1].
        num_modes: K.
        min_count: as for ``modes_covered``.

    Returns:
        {"histogram": int64 [K], "modes_covered": int, "mode_kl": float}.
    """
    counts = histogram(labels, num_modes)
    return {"histogram": counts, "modes_covered": modes_covered(counts, min_count),
            "mode_kl": mode_kl(counts)}
