"""Inception score (Salimans et al. 2016), as the reference TF implementation computes it.

The N predictions are cut into ``splits`` consecutive chunks (chunk i: rows i*N//splits to
(i+1)*N//splits); in each, IS_i = exp(mean_x KL(p(y|x) || p(y))) with p(y) the chunk's mean
prediction; the score is mean ± std (population std) of the IS_i.
"""
from __future__ import annotations

import numpy as np
import torch

from gantrain.metrics import defaults


def inception_score(x, splits: int = defaults.SPLITS, *, kind: str = "logits") -> tuple[float, float]:
    """The Inception score of predictions, over ``splits`` chunks.

    Args:
        x: predictions [N, C]: logits (``kind="logits"``, the default) or probabilities
            (``kind="probs"``, rows summing to 1).
        splits: the number of chunks, in [1, N].
        kind: ``"logits"`` or ``"probs"``.

    Returns:
        (mean, std) of the chunks' scores.
    """
    if kind not in ("logits", "probs"):
        raise ValueError(f"kind={kind!r}: allowed logits, probs")
    x = torch.as_tensor(x).detach().cpu().double()
    if x.dim() != 2:
        raise ValueError(f"expected predictions [N, C], got shape {tuple(x.shape)}")
    n = x.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"splits={splits} must be in [1, number of predictions={n}]")
    if kind == "logits":
        log_p = torch.log_softmax(x, dim=1)
        p = log_p.exp()
    else:
        if (x < 0).any() or not torch.allclose(x.sum(1), torch.ones(n, dtype=x.dtype), atol=1e-6):
            raise ValueError("probabilities must be >= 0 with rows summing to 1")
        p = x
        log_p = torch.log(x)  # -inf where p = 0; those terms are dropped below (0 log 0 = 0)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        part, log_part = p[lo:hi], log_p[lo:hi]
        log_py = torch.log(part.mean(0, keepdim=True))
        terms = torch.where(part > 0, part * (log_part - log_py), torch.zeros_like(part))
        scores.append(float(torch.exp(terms.sum(1).mean())))
    return float(np.mean(scores)), float(np.std(scores))
