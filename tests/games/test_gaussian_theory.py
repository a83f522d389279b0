"""The expected update field of the Gaussian game against docs/methods.md §4 (Theorems 1–3, ConOpt)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from gantrain.analysis.jacobian import field_jacobian
from gantrain.analysis.stability import max_stable_step
from gantrain.analysis.theory import gaussian_eigenvalues as theory
from gantrain.analysis.theory import simgd_jacobian as simgd_closed_form
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.rules import build_rule
from tests.helpers import make_cfg

SETTINGS = [  # (mu, sigma, n, gamma)
    (2.0, 0.2, 2, 10.0),
    (6.0, 0.2, 2, 10.0),
    (4.0, 0.5, 3, 1.0),
    (1.0, 1.3, 3, 0.3),
    (0.5, 0.7, 1, 100.0),
]


def game_at_equilibrium(mu, sigma, n):
    v = [0.0] * (n - 1) + [mu]
    cfg = make_cfg("dataset=gaussian", f"dataset.mu={mu}", f"dataset.sigma={sigma}", f"dataset.dim={n}",
                   f"dataset.init_phi={v}", f"dataset.init_theta={[0.0] * n}", "dtype=float64")
    return build_game(validate(cfg), dtype=torch.float64)


def jacobian(method, mu, sigma, n, gamma):
    game = game_at_equilibrium(mu, sigma, n)
    rule = build_rule(method, gamma, {})
    return field_jacobian(rule, game.expected_losses(order=6), game.d_params(), game.g_params(),
                          zero_sum=game.zero_sum)


def assert_same_spectrum(numeric, expected, tol=1e-8):
    numeric, expected = np.asarray(numeric, complex), np.asarray(expected, complex)
    assert numeric.shape == expected.shape
    cost = np.abs(numeric[:, None] - expected[None, :])
    r, c = linear_sum_assignment(cost)
    scale = np.maximum(1.0, np.abs(expected[c]))
    err = (cost[r, c] / scale).max()
    assert err < tol, (f"eigenvalues differ by {err:.2e}:\n{np.sort_complex(numeric)}\n"
                       f"{np.sort_complex(expected)}")


@pytest.mark.parametrize("mu,sigma,n,gamma", SETTINGS)
def test_simgd_jacobian_is_the_closed_form_matrix(mu, sigma, n, gamma):
    A = jacobian("simgd", mu, sigma, n, gamma).numpy()
    np.testing.assert_allclose(A, simgd_closed_form(mu, sigma, n), atol=1e-12)


@pytest.mark.parametrize("method", ["simgd", "jare_g", "jare_d", "jare"])
@pytest.mark.parametrize("mu,sigma,n,gamma", SETTINGS)
def test_eigenvalues_match_theorems_1_2_3(method, mu, sigma, n, gamma):
    A = jacobian(method, mu, sigma, n, gamma)
    assert_same_spectrum(torch.linalg.eigvals(A).numpy(), theory(method, mu, sigma, n, gamma))


@pytest.mark.parametrize("mu,sigma,n,gamma", SETTINGS)
def test_conopt_is_m_minus_gamma_mtm(mu, sigma, n, gamma):
    M = simgd_closed_form(mu, sigma, n)
    reg = gamma * M.T @ M
    full = jacobian("conopt", mu, sigma, n, gamma).numpy()
    np.testing.assert_allclose(full, M - reg, atol=1e-10 * max(1, np.abs(reg).max()))
    assert_same_spectrum(np.linalg.eigvals(full), np.linalg.eigvals(M - reg))
    # One-sided: only the generator's (first n) or the discriminator's rows of γMᵀM.
    for method, rows in (("conopt_g", slice(0, n)), ("conopt_d", slice(n, 2 * n))):
        expected = M.copy()
        expected[rows] -= reg[rows]
        got = jacobian(method, mu, sigma, n, gamma).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-10 * max(1, np.abs(reg).max()))


def test_closed_forms_solve_the_theorems_characteristic_equations():
    mu, sigma, n, gamma = 1.5, 0.4, 2, 3.0
    s2, b2 = sigma**2, sigma**2 + mu**2
    lam = theory("simgd", mu, sigma, n, gamma)       # Theorem 1: λ = (−s ± √(s² − 4))/4
    expected = [(-s + sign * np.sqrt(complex(s * s - 4))) / 4 for s in (s2, b2) for sign in (1, -1)]
    assert_same_spectrum(lam, expected, tol=1e-14)
    lam = theory("jare", mu, sigma, n, gamma)        # Theorem 3: 2λ² + (γ + s)λ + γ²/8 + ½ = 0
    for s, pair in ((s2, lam[:2]), (b2, lam[2:])):
        np.testing.assert_allclose(2 * pair**2 + (gamma + s) * pair + gamma**2 / 8 + 0.5, 0, atol=1e-12)
    assert theory("conopt", mu, sigma, n, gamma) is None


def test_phase_and_conditioning_factors_of_simgd():
    mu, sigma, n = 2.0, 0.5, 2
    ev = torch.linalg.eigvals(jacobian("simgd", mu, sigma, n, 0.0))
    zeta = (ev.imag.abs() / ev.real.abs()).max().item()
    tau = (ev.abs().max() / ev.abs().min()).item()
    b2 = sigma**2 + mu**2
    assert zeta == pytest.approx(math.sqrt((2 / sigma**2) ** 2 - 1), rel=1e-9)
    assert tau == pytest.approx(0.25 * (b2 + math.sqrt(b2**2 - 4)) ** 2, rel=1e-9)


def test_lemma4_predicts_conopt_unstable_and_jare_stable_at_mu6():
    """docs/experiments.md §A: with η = 1e-3, γ = 10, ConOpt's largest |λ| exceeds 2/η at μ = 6."""
    eta = 1e-3
    conopt = torch.linalg.eigvals(jacobian("conopt", 6.0, 0.2, 2, 10.0))
    jare = torch.linalg.eigvals(jacobian("jare", 6.0, 0.2, 2, 10.0))
    assert conopt.abs().max() == pytest.approx(10 * (36.04 / 2) ** 2, rel=0.01)
    assert max_stable_step(conopt) < eta < max_stable_step(jare)
    assert max_stable_step(torch.linalg.eigvals(jacobian("conopt", 2.0, 0.2, 2, 10.0))) > eta
