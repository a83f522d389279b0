"""The small algebra a rule states its closed forms in (numpy only, docs/methods.md §4, §5).

Rules (``gantrain.rules``) give their DiracGAN and Gaussian spectra and their discrete maps'
multipliers with these; ``gantrain.analysis`` puts in a game's numbers. It sits below both, so a
rule never imports the analysis.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# DiracGAN: a = f′(0) = ½, the slope of SimGD's field at the equilibrium (see dirac_eigenvalues).
DIRAC_SLOPE = 0.5


def roots(a: float, b: float, c: float) -> np.ndarray:
    """The two complex roots of aλ² + bλ + c.

    Args:
        a, b, c: the coefficients.
    Returns:
        an array [(−b + d)/(2a), (−b − d)/(2a)], d = √(b² − 4ac).
    """
    d = np.sqrt(complex(b * b - 4 * a * c))
    return np.array([(-b + d) / (2 * a), (-b - d) / (2 * a)])


def dirac_rotation() -> np.ndarray:
    """SimGD's DiracGAN spectrum ±ia, a = ``DIRAC_SLOPE``."""
    return np.array([1j * DIRAC_SLOPE, -1j * DIRAC_SLOPE])


def quadratic_spectrum(quadratic: Callable, mu: float, sigma: float, n: int, gamma: float):
    """The Gaussian game's 2n eigenvalues from a rule's quadratic (a, b, c)(s, γ): n − 1 pairs at
    s = σ², one at s = σ² + μ².

    Args:
        quadratic: ``UpdateRule.gaussian_quadratic``.
        mu, sigma, n: the data mean's norm, its standard deviation, the dimension.
        gamma: γ.
    Returns:
        a complex array, or None where ``quadratic`` gives None.
    """
    small, big = quadratic(sigma**2, gamma), quadratic(sigma**2 + mu**2, gamma)
    if small is None or big is None:
        return None
    return np.array(list(roots(*small)) * (n - 1) + list(roots(*big)))


def alternating_multipliers(jacobian: np.ndarray, n_g: int, h: float, d_first: bool = True,
                            d_steps: int = 1, g_steps: int = 1) -> np.ndarray:
    """Eigenvalues of F′ = Π (I + h G_i′) for alternating half-steps (docs/methods.md §5), where G_i′
    keeps one player's rows of the field's Jacobian (generator rows first: (φ, θ) order)."""
    n = jacobian.shape[0]
    eye = np.eye(n)
    step_g, step_d = eye.copy(), eye.copy()
    step_g[:n_g] += h * jacobian[:n_g]
    step_d[n_g:] += h * jacobian[n_g:]
    first, second = (step_d, step_g) if d_first else (step_g, step_d)
    k1, k2 = (d_steps, g_steps) if d_first else (g_steps, d_steps)
    F = np.linalg.matrix_power(second, k2) @ np.linalg.matrix_power(first, k1)
    return np.linalg.eigvals(F)
