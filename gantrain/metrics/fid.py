"""Fréchet Inception distance from pool3 statistics (Heusel et al. 2017; pytorch-fid).

FID = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr sqrt(S1 S2). ``method="sqrtm"`` is pytorch-fid's
``calculate_frechet_distance`` unchanged; ``method="eigh"`` (default) gets Tr sqrt(S1 S2) from the
eigenvalues of the symmetric PSD matrix sqrt(S1) S2 sqrt(S1), which has the eigenvalues of S1 S2:
the same number, about 5x faster on CPU at 2048-d and free of sqrtm's complex round-off.
"""
from __future__ import annotations

import warnings

import numpy as np

from gantrain.metrics import defaults


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, as pytorch-fid's ``np.cov(rowvar=False)``) in float64.

    Args:
        features: an array [N >= 2, D], one row per image (e.g. Inception pool3 features).

    Returns:
        (mu [D], sigma [D, D]).
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"expected features [N >= 2, D], got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ sigma2 @ root1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


def fid_from_stats(mu1, sigma1, mu2, sigma2, method: str = defaults.FID_METHOD) -> float:
    """The Fréchet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, sigma1: the first mean [D] and covariance [D, D].
        mu2, sigma2: the second's.
        method: ``"eigh"`` (default) or ``"sqrtm"`` (pytorch-fid's function unchanged).

    Returns:
        |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr sqrt(S1 S2).

    Example:
        >>> round(fid_from_stats([0.0, 0.0], [[1, 0], [0, 1]], [3.0, 4.0], [[4, 0], [0, 4]]), 6)
        27.0
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {s1.shape} vs {s2.shape}")
    if method == "sqrtm":
        from pytorch_fid.fid_score import calculate_frechet_distance
        with warnings.catch_warnings():  # pytorch-fid 0.3.0 passes sqrtm's deprecated disp=
            warnings.simplefilter("ignore", DeprecationWarning)
            return float(calculate_frechet_distance(mu1, s1, mu2, s2))
    if method != "eigh":
        raise ValueError(f"method={method!r}: allowed eigh, sqrtm")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * _trace_sqrt_product(s1, s2))


def fid_from_features(features1, features2, method: str = defaults.FID_METHOD) -> float:
    """The FID between two sets of features.

    Args:
        features1, features2: arrays [N >= 2, D] (their N may differ).
        method: as for ``fid_from_stats``.

    Returns:
        ``fid_from_stats`` of their ``feature_stats``.
    """
    return fid_from_stats(*feature_stats(features1), *feature_stats(features2), method=method)
