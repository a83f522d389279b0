"""Closed forms for the isotropic Gaussian game at its equilibrium (docs/methods.md §4), with the linear
discriminator (Theorems 1–3) and App. B's full-rank one D_θ(x) = θᵀeˣ."""
from __future__ import annotations

import numpy as np

CLOSED_FORM = ("simgd", "jare_g", "jare_d", "jare", "gradnorm", "r1", "r2", "extragradient",
               "optimistic")
# arch=fullrank, n = 1: every simultaneous rule (see ``fullrank_eigenvalues``)
FULLRANK_CLOSED_FORM = ("simgd", "jare_g", "jare_d", "jare", "conopt", "conopt_g", "conopt_d",
                        "gradnorm")


def _roots(a: float, b: float, c: float) -> list[complex]:
    d = np.sqrt(complex(b * b - 4 * a * c))
    return [(-b + d) / (2 * a), (-b - d) / (2 * a)]


def gaussian_eigenvalues(method: str, mu: float, sigma: float, n: int, gamma: float,
                        lr: float = 0.0):
    """Theorems 1–3: the eigenvalues of the method's Jacobian, or None where there is no closed
    form (ConOpt: see ``simgd_jacobian``). R1 and R2 add γθ to u_θ (∇ₓθᵀx = θ on every sample):
    Theorem 1 with s → s + 2γ. Extragradient and optimistic: the equivalent field's λ + lr·λ² of
    Theorem 1's λ (docs/methods.md §8)."""
    s2, b2 = sigma**2, sigma**2 + mu**2
    if method in ("extragradient", "optimistic"):
        lam = gaussian_eigenvalues("simgd", mu, sigma, n, gamma)
        return lam + lr * lam**2
    if method == "simgd":            # Theorem 1: (−s ± √(s² − 4))/4
        small, big = _roots(4, 2 * s2, 1), _roots(4, 2 * b2, 1)
    elif method in ("r1", "r2"):
        small, big = _roots(4, 2 * s2 + 4 * gamma, 1), _roots(4, 2 * b2 + 4 * gamma, 1)
    elif method in ("jare_g", "jare_d"):   # Theorem 2: s → s + γ/2
        small, big = _roots(4, 2 * s2 + gamma, 1), _roots(4, 2 * b2 + gamma, 1)
    elif method == "jare":           # Theorem 3
        small, big = (_roots(2, gamma + s2, gamma**2 / 8 + 0.5),
                      _roots(2, gamma + b2, gamma**2 / 8 + 0.5))
    elif method == "gradnorm":       # −γMᵀM, per 2×2 block of M (p = ½, q = s/2; see below)
        small, big = (_roots(16, gamma * (8 + 4 * s2**2), gamma**2),
                      _roots(16, gamma * (8 + 4 * b2**2), gamma**2))
    else:
        return None
    return np.array(small * (n - 1) + big)


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
    λ² + bλ + c with b = −trace, c = det. SimGD at σ = 0 gives App. B's eq. (20):
    (−e^{2v} ± √(e^{4v} − 4e^{2v}))/4. The linear game is the case p = ½, q = ½(σ² + μ²)."""
    p, q = 0.5 * np.exp(mu + sigma**2 / 2), 0.5 * np.exp(2 * mu + 2 * sigma**2)
    p2, g = p * p, gamma
    coeffs = {"simgd": (q, p2),
              "jare_g": (q + g * p2, p2), "jare_d": (q + g * p2, p2), "conopt_g": (q + g * p2, p2),
              "jare": (q + 2 * g * p2, p2 + g**2 * p2**2),
              "conopt": (q + g * (2 * p2 + q * q), p2 + g * p2 * q + g**2 * p2**2),
              "conopt_d": (q + g * (p2 + q * q), p2 + g * p2 * q),
              "gradnorm": (g * (2 * p2 + q * q), g**2 * p2**2)}
    if method not in coeffs:
        return None
    b, c = coeffs[method]
    return np.array(_roots(1, b, c))


# --- DiracGAN (Mescheder, Geiger & Nowozin 2018) ------------------------------------------------
DIRAC_CLOSED_FORM = ("simgd", "altgd", "conopt", "jare", "sga", "conopt_g", "conopt_d", "jare_g",
                     "jare_d", "gradnorm", "r1", "r2", "extragradient", "optimistic", "cgd")


def dirac_eigenvalues(method: str, gamma: float, lr: float):
    """The eigenvalues of the Jacobian of −u at the DiracGAN's equilibrium (φ, θ) = (0, 0), or None
    for a method without a closed form here. ``lr`` enters extragradient, optimistic and CGD only.

    −u_simgd = σ(θφ)·(θ, −φ) (minimax; the non-saturating loss agrees to first order), so with
    a = f′(0) = ½ the SimGD Jacobian is M = [[0, a], [−a, 0]] in (φ, θ) order: ±ia. At the
    equilibrium v = 0, so a regularizer's Jacobian keeps only first derivatives of v:

    - altgd: the field is SimGD's (its alternating multipliers are another matter);
    - conopt M − γMᵀM = M − γa²I; jare the same (M's diagonal blocks are 0, so its cross terms are
      all of MᵀM); sga u = v + γAᵀv, A the antisymmetric part of ∂v/∂w = −M, which is all of it:
      M − γMᵀM again (``align``'s sign is + at a rest point, where the alignment term is ε > 0);
    - conopt_g, jare_g (−γa² in the φ row only), conopt_d, jare_d (θ row): λ² + γa²λ + a² = 0;
    - gradnorm −γMᵀM = −γa²I;
    - r1, r2: ∇ₓD = θ on every sample, so the penalty γθ²/2 adds −γ to the θθ entry:
      λ² + γλ + a² = 0, λ = −γ/2 ± √(γ²/4 − a²);
    - extragradient steps exactly w − lr·u(w − lr·u(w)): its field's Jacobian is M + lr·M²,
      λ + lr·λ² = −lr·a² ± ia; optimistic's multipliers solve μ² − (1 + 2lr·λ)μ + lr·λ = 0, the
      same to first order in lr, so the same equivalent field is given;
    - cgd with η = lr (Schäfer & Anandkumar's step; ``method.eta`` follows ``eta``):
      u = (I + lr·H_off)⁻¹v, H_off the off-diagonal blocks of ∂v/∂w, here all of −M, so the
      field's Jacobian is (I − lr·M)⁻¹M: λ/(1 − lr·λ) = (−lr·a² ± ia)/(1 + lr²a²).
    """
    a = 0.5
    g = float(gamma)
    rot = np.array([1j * a, -1j * a])
    if method in ("simgd", "altgd"):
        return rot
    if method in ("conopt", "jare", "sga"):
        return rot - g * a * a
    if method in ("conopt_g", "conopt_d", "jare_g", "jare_d"):
        return np.array(_roots(1, g * a * a, a * a))
    if method == "gradnorm":
        return np.array([-g * a * a, -g * a * a], dtype=complex)
    if method in ("r1", "r2"):
        return np.array(_roots(1, g, a * a))
    if method in ("extragradient", "optimistic"):
        return rot + lr * rot**2
    if method == "cgd":
        return rot / (1 - lr * rot)
    return None
