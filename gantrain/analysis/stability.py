"""Stability of explicit updates, phase and conditioning factors (docs/methods.md §4–§5)."""
from __future__ import annotations

import math

import numpy as np

from gantrain.closed_forms import alternating_multipliers  # noqa: F401 (re-exported)


def _ev(eigenvalues) -> np.ndarray:
    return np.asarray(eigenvalues, dtype=complex).reshape(-1)


def max_stable_step(eigenvalues) -> float:
    """Lemma 4 (Numerics of GANs): I + hA is stable iff h < min 2|Re λ|/|λ|² (all Re λ < 0);
    0 when some eigenvalue has a non-negative real part."""
    ev = _ev(eigenvalues)
    if ev.size == 0 or (ev.real >= 0).any():
        return 0.0
    return float((2 * np.abs(ev.real) / np.abs(ev) ** 2).min())


def phase_factor(eigenvalues) -> float:
    """ζ = max |Im λ| / |Re λ| (inf when an eigenvalue is on the imaginary axis)."""
    ev = _ev(eigenvalues)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(ev.imag) / np.abs(ev.real)
    r = np.where(np.abs(ev.imag) == 0, 0.0, r)
    return float(r.max())


def conditioning_factor(eigenvalues) -> float:
    """τ = |λ|max / |λ|min."""
    a = np.abs(_ev(eigenvalues))
    return float(a.max() / a.min()) if a.min() > 0 else math.inf


def iteration_lower_bounds(zeta: float, tau: float, c: float, eps: float) -> dict:
    """Corollaries 1 and 2 (JARE §4) for SimGD on the Gaussian game: iterations needed for
    ‖w‖ ≤ eps from C = c. Each is None where its condition does not hold."""
    out = {"corollary1": None, "corollary2": None, "eps": eps, "c": c}
    if c <= eps:
        return {**out, "corollary1": 0, "corollary2": 0}
    if math.isfinite(zeta) and zeta > 0:
        out["corollary1"] = math.ceil(2 * math.log(c / eps) / math.log1p(1 / zeta**2))
    if math.isfinite(tau) and tau > 2:
        out["corollary2"] = math.ceil(2 * math.log(c / eps) / math.log(tau / (tau - 2)))
    return out


def scan_max_stable_step(rho, h_hi: float = 10.0, tol: float = 1e-12, num: int = 200) -> float:
    """Largest h (by a log scan, then bisection) with spectral radius ``rho(h)`` < 1 − ``tol``: the
    step-size bound of a discrete map that is not I + hJ (alternating, two-point, CGD steps).

    ``tol`` separates contraction from rounding: a contraction of order h² (extragradient on a
    rotation, ρ² = 1 − h²/4 + h⁴/16) rounds to ρ = 1 at the tiniest steps, so the stable interval
    starts at the first grid point that contracts; a map that only preserves norms (AltGD on a
    bilinear game, |μ| = 1) never contracts and gets 0."""
    grid = np.logspace(-8, math.log10(h_hi), num)
    stable = [rho(h) < 1 - tol for h in grid]
    if not any(stable):
        return 0.0
    first = stable.index(True)
    if all(stable[first:]):
        return float(grid[-1])
    i = stable.index(False, first)
    lo, hi = grid[i - 1], grid[i]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rho(mid) < 1 - tol else (lo, mid)
    return float(lo)


def alternating_max_stable_step(jacobian: np.ndarray, n_g: int, h_hi: float = 10.0,
                                **kw) -> float:
    """Largest h under which the alternating map is stable."""
    return scan_max_stable_step(
        lambda h: np.abs(alternating_multipliers(jacobian, n_g, h, **kw)).max(), h_hi)
