"""Spectra of the full-rank Gaussian game (JARE App. B; docs/methods.md §4) and ζ, τ against μ.

App. B's eq. (20), (−e^{2v} ± √(e^{4v} − 4e^{2v}))/4, is the σ → 0 limit: the field's exact
Jacobian has p = ½e^{v+σ²/2} and q = ½e^{2v+2σ²} where (20) has ½e^v and ½e^{2v}, so the computed
eigenvalues must approach (20) with an error O(σ²) (relative, away from the double root at
e^{2v} = 4, where the square root turns it into O(σ)).
"""
from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from gantrain.analysis.theory import FULLRANK_CLOSED_FORM
from gantrain.analyze import spectrum_at, write_factors_vs_mu
from tests.helpers import make_cfg


def as_complex(pairs):
    return np.array([complex(re, im) for re, im in pairs])


def max_rel_error(got, want):
    cost = np.abs(got[:, None] - want[None, :])
    i, j = linear_sum_assignment(cost)
    return (cost[i, j] / np.maximum(1, np.abs(want[j]))).max()


def eq20(v):
    e2 = math.exp(2 * v)
    root = cmath.sqrt(e2 * e2 - 4 * e2)
    return np.array([(-e2 + root) / 4, (-e2 - root) / 4])


def fullrank_cfg(*over):
    return make_cfg("dataset=gaussian", "arch=fullrank", "dataset.dim=1", *over)


@pytest.mark.parametrize("v", [-1.0, 0.0, 0.4, 1.5])
def test_simgd_spectrum_approaches_eq20_as_sigma_vanishes(v):
    errors = []
    for sigma in (1e-1, 1e-2, 1e-3):
        r = spectrum_at(fullrank_cfg("method=simgd", f"dataset.mu={v}", f"dataset.sigma={sigma}"))
        errors.append(max_rel_error(as_complex(r["eigenvalues"]), eq20(v)))
        assert errors[-1] < 5 * sigma**2          # O(σ²): the leading terms are σ²/2 and 2σ²
    assert errors[2] < errors[0] / 1000            # and it really shrinks like σ²


@pytest.mark.parametrize("method", FULLRANK_CLOSED_FORM)
@pytest.mark.parametrize("mu,sigma,gamma", [(-0.7, 0.3, 0.5), (0.9, 0.1, 3.0), (1.8, 0.6, 20.0)])
def test_theory_eigenvalues_are_exact_at_finite_sigma(method, mu, sigma, gamma):
    cfg = fullrank_cfg(f"method={method}", f"dataset.mu={mu}", f"dataset.sigma={sigma}",
                       f"gamma={gamma}", "analysis.quadrature_order=14")   # E e^{2σξ} to ~1e-16
    r = spectrum_at(cfg)
    assert r["theory_eigenvalues"] is not None and r["n_params"] == 2
    assert max_rel_error(as_complex(r["eigenvalues"]), as_complex(r["theory_eigenvalues"])) < 1e-8


def test_no_closed_form_where_app_b_does_not_apply():
    assert spectrum_at(fullrank_cfg("method=simgd", "dataset.dim=2"))["theory_eigenvalues"] is None
    assert spectrum_at(fullrank_cfg("method=altgd"))["theory_eigenvalues"] is None


def simgd_factors(v, sigma):
    """ζ and τ of λ² + qλ + p² = 0 by hand: complex roots −q/2 ± i√(p² − q²/4) have τ = 1;
    real ones have ζ = 0 and τ = (q + √(q² − 4p²))/(q − √(q² − 4p²))."""
    p, q = 0.5 * math.exp(v + sigma**2 / 2), 0.5 * math.exp(2 * v + 2 * sigma**2)
    disc = q * q - 4 * p * p
    if disc < 0:
        return math.sqrt(-disc) / q, 1.0
    return 0.0, (q + math.sqrt(disc)) / (q - math.sqrt(disc))


def test_factors_vs_mu_follow_app_b(tmp_path):
    mus = [-2.0, -0.5, 0.5, 1.0, 2.5]
    cfg = fullrank_cfg("method=simgd", "dataset.sigma=0.2", f"++analysis.mus={mus}")
    out = write_factors_vs_mu(cfg, tmp_path)
    want = [simgd_factors(v, 0.2) for v in mus]
    np.testing.assert_allclose(out["zeta"], [z for z, _ in want], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(out["tau"], [t for _, t in want], rtol=1e-7)
    # ζ grows without bound only as v → −∞ (ζ = √(4e^{−2v} − 1) at σ → 0); large v is
    # ill-conditioned (τ grows like e^{2v})
    assert out["zeta"][0] > 5 and out["tau"][-1] > 100
    assert (tmp_path / "factors_vs_mu.png").stat().st_size > 1000
    assert (tmp_path / "factors_vs_mu.json").is_file()


# App. B's limits as v → 0 (σ → 0, n = 1): eq. (20) tends to (−1 ± √3 i)/4 with ζ = √3, while the
# linear discriminator's eq. (19) tends to ±½i, an infinite ζ. Errors are O(v) + O(σ²).
APP_B_LIMIT = np.array([complex(-0.25, math.sqrt(3) / 4), complex(-0.25, -math.sqrt(3) / 4)])


@pytest.mark.parametrize("v,sigma", [(1e-3, 1e-3), (-1e-4, 1e-4), (0.0, 1e-5)])
def test_app_b_limit_at_v_to_zero(v, sigma):
    r = spectrum_at(fullrank_cfg("method=simgd", f"dataset.mu={v}", f"dataset.sigma={sigma}"))
    tol = 2 * abs(v) + 5 * sigma**2 + 1e-12
    assert max_rel_error(as_complex(r["eigenvalues"]), APP_B_LIMIT) < tol
    assert abs(r["zeta"] - math.sqrt(3)) < 10 * tol
    assert r["tau"] == pytest.approx(1.0, abs=1e-9)     # a complex pair: equal moduli
    linear = spectrum_at(make_cfg("dataset=gaussian", "arch=linear", "dataset.dim=1",
                                  "method=simgd", f"dataset.mu={v}", f"dataset.sigma={sigma}"))
    lin = as_complex(linear["eigenvalues"])
    assert np.allclose(np.sort(lin.imag), [-0.5, 0.5], atol=1e-6)    # eq. (19): → ±½i
    assert linear["zeta"] is None or linear["zeta"] > 1e4             # ζ → ∞ (None: infinite)
