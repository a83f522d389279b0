"""Closed forms for the isotropic Gaussian game at its equilibrium (methods.md §4)."""
from __future__ import annotations

import numpy as np

CLOSED_FORM = ("simgd", "jare_g", "jare_d", "jare")


def _roots(a: float, b: float, c: float) -> list[complex]:
    d = np.sqrt(complex(b * b - 4 * a * c))
    return [(-b + d) / (2 * a), (-b - d) / (2 * a)]


def gaussian_eigenvalues(method: str, mu: float, sigma: float, n: int, gamma: float):
    """Theorems 1–3: the eigenvalues of the method's Jacobian, or None where there is no closed
    form (ConOpt: see ``simgd_jacobian``)."""
    s2, b2 = sigma**2, sigma**2 + mu**2
    if method == "simgd":            # Theorem 1: (−s ± √(s² − 4))/4
        small, big = _roots(4, 2 * s2, 1), _roots(4, 2 * b2, 1)
    elif method in ("jare_g", "jare_d"):   # Theorem 2: s → s + γ/2
        small, big = _roots(4, 2 * s2 + gamma, 1), _roots(4, 2 * b2 + gamma, 1)
    elif method == "jare":           # Theorem 3
        small, big = (_roots(2, gamma + s2, gamma**2 / 8 + 0.5),
                      _roots(2, gamma + b2, gamma**2 / 8 + 0.5))
    else:
        return None
    return np.array(small * (n - 1) + big)


def simgd_jacobian(mu: float, sigma: float, n: int) -> np.ndarray:
    """M = [[0, ½I], [−½I, −½(σ²I + vvᵀ)]] in (φ − v, θ) coordinates."""
    v = np.zeros(n)
    v[-1] = mu
    eye = np.eye(n)
    return np.block([[0 * eye, 0.5 * eye], [-0.5 * eye, -0.5 * (sigma**2 * eye + np.outer(v, v))]])
