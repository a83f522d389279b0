"""digits-FD: the Fréchet distance in the digits classifier's feature space (issue 31).

FID's formula (``gantrain.metrics.fid``) on the penultimate features of
``gantrain.metrics.digits_classifier`` instead of Inception's pool3: 64 features per channel, the
three channels' features concatenated for stacked digits (192). Real and generated images go
through the same classifier, the same 8-bit rounding and the same statistics.
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import torch

from gantrain.metrics import defaults
from gantrain.metrics.digits_classifier import DigitsClassifier
from gantrain.metrics.digits_predict import features, to_uint8
from gantrain.metrics.fid import feature_stats, fid_from_stats


def digits_feature_stats(model: DigitsClassifier, batches: Iterable[torch.Tensor],
                         limit: Optional[int] = None,
                         quantize: Optional[str] = defaults.QUANTIZE) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the classifier's features of some images.

    Args:
        model: the digits classifier.
        batches: image batches [B, C, 16, 16] in [-1, 1] (or uint8).
        limit: use the first this many images (None: all).
        quantize: as for ``digits_predict.predict``.

    Returns:
        (mu [D], sigma [D, D]) in float64 (``fid.feature_stats``).
    """
    parts, n = [], 0
    for x in batches:   # gathered first: the classifier runs on large chunks, not on each batch
        if limit is not None and n >= limit:
            break
        x = to_uint8(x).cpu() if quantize == "uint8" or x.dtype == torch.uint8 else x.detach()
        parts.append(x if limit is None else x[:limit - n])
        n += len(parts[-1])
    if not parts:
        raise ValueError("no images to compute feature statistics of")
    return feature_stats(features(model, torch.cat(parts), quantize).numpy())


def digits_fd(generated_features, reference: tuple[np.ndarray, np.ndarray]) -> float:
    """digits-FD of generated images against the real images' statistics.

    Args:
        generated_features: the classifier's features of the generated images [N >= 2, D].
        reference: (mu, sigma) of the real images' features (``digits_feature_stats``).

    Returns:
        The Fréchet distance (``fid.fid_from_stats``, its default method).
    """
    mu, sigma = feature_stats(np.asarray(generated_features, dtype=np.float64))
    return fid_from_stats(mu, sigma, *reference)
