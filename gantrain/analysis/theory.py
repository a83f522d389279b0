"""Closed forms at the equilibrium (docs/methods.md §4): the isotropic Gaussian game with the
linear discriminator (Theorems 1–3) and App. B's full-rank one D_θ(x) = θᵀeˣ, and DiracGAN.

Each rule states its own closed forms (``UpdateRule.gaussian_quadratic``,
``fullrank_coefficients``, ``dirac_eigenvalues``; None where it has none); the functions here put
in the game's numbers, and the ``*_CLOSED_FORM`` tables are read from the registry.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from gantrain.closed_forms import DIRAC_SLOPE, dirac_rotation, quadratic_spectrum, roots  # noqa: F401 (re-exported)


def _rule(method: str):
    from gantrain.rules import RULES

    return RULES.get(method)


def gaussian_eigenvalues(method: str, mu: float, sigma: float, n: int, gamma: float,
                        lr: float = 0.0):
    """Theorems 1–3: the eigenvalues of the method's Jacobian, or None where there is no closed
    form (ConOpt: see ``simgd_jacobian``).

    Args:
        method: a ``method`` name.
        mu, sigma, n: the data mean's norm, its standard deviation, the dimension.
        gamma: γ.
        lr: the step size (two-point rules' equivalent field).
    Returns:
        a complex array of 2n eigenvalues, or None.
    """
    rule = _rule(method)
    return None if rule is None else rule.gaussian_eigenvalues(mu, sigma, n, gamma, lr)


def simgd_jacobian(mu: float, sigma: float, n: int) -> np.ndarray:
    """M = [[0, ½I], [−½I, −½(σ²I + vvᵀ)]] in (φ − v, θ) coordinates."""
    v = np.zeros(n)
    v[-1] = mu
    eye = np.eye(n)
    return np.block([[0 * eye, 0.5 * eye], [-0.5 * eye, -0.5 * (sigma**2 * eye + np.outer(v, v))]])


def fullrank_eigenvalues(method: str, mu: float, sigma: float, gamma: float):
    """App. B's eigenvalues for n = 1, exact for σ > 0, or None where there is no closed form.

    M = [[0, p], [−p, −q]] with p = ½e^{v+σ²/2}, q = ½e^{2v+2σ²}; the field's Jacobian at the
    equilibrium (where v = 0, so only first derivatives of the field remain) is M for SimGD,
    M − γMᵀM for ConOpt (one-sided: only the player's row), M − γ K M with K the off-diagonal part
    of Mᵀ for JARE, and −γMᵀM for gradnorm. Each is 2×2, so its eigenvalues are the roots of
    λ² + bλ + c with b = −trace, c = det (each rule's ``fullrank_coefficients``). SimGD at σ = 0
    gives App. B's eq. (20): (−e^{2v} ± √(e^{4v} − 4e^{2v}))/4. The linear game is the case
    p = ½, q = ½(σ² + μ²).

    Returns:
        a complex array of 2 eigenvalues, or None.
    """
    p, q = 0.5 * np.exp(mu + sigma**2 / 2), 0.5 * np.exp(2 * mu + 2 * sigma**2)
    rule = _rule(method)
    coeffs = None if rule is None else rule.fullrank_coefficients(p * p, q, gamma)
    if coeffs is None:
        return None
    b, c = coeffs
    return roots(1, b, c)


# --- DiracGAN (Mescheder, Geiger & Nowozin 2018) ------------------------------------------------
def dirac_eigenvalues(method: str, gamma: float, lr: float):
    """The eigenvalues of the Jacobian of −u at the DiracGAN's equilibrium (φ, θ) = (0, 0), or None
    for a method without a closed form here. ``lr`` enters rules whose field depends on the step
    (extragradient, optimistic, CGD: its η).

    −u_simgd = σ(θφ)·(θ, −φ) (minimax; the non-saturating loss agrees to first order), so with
    a = f′(0) = ½ the SimGD Jacobian is M = [[0, a], [−a, 0]] in (φ, θ) order: ±ia. At the
    equilibrium v = 0, so a regularizer's Jacobian keeps only first derivatives of v; each rule's
    ``dirac_eigenvalues`` gives its case.

    Args:
        method: a ``method`` name.
        gamma: γ.
        lr: the step size.
    Returns:
        a complex array, or None.
    """
    rule = _rule(method)
    return None if rule is None else rule.dirac_eigenvalues(gamma, lr)


def _probe(kind: str) -> Callable:
    return {"gaussian": lambda r: r.gaussian_eigenvalues(2.0, 0.5, 2, 1.0, 0.1),
            "fullrank": lambda r: r.fullrank_coefficients(0.25, 0.5, 1.0),
            "dirac": lambda r: r.dirac_eigenvalues(1.0, 0.1)}[kind]


def closed_form(kind: str) -> tuple[str, ...]:
    """The rules with a closed-form spectrum on ``kind`` (gaussian, fullrank, dirac).

    Returns:
        their names, in registry order.
    """
    from gantrain.rules import RULES

    test = _probe(kind)
    return RULES.where(lambda r: test(r) is not None)


_TABLES = {"CLOSED_FORM": "gaussian", "FULLRANK_CLOSED_FORM": "fullrank", "DIRAC_CLOSED_FORM": "dirac"}


def __getattr__(name: str):   # the tables, read from the registry when first asked for
    if name in _TABLES:
        return closed_form(_TABLES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
