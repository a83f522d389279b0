"""Theorem 2's ConOpt bound, JARE eq. (30), on random Gaussian games (docs/methods.md §4.3).

τ(A) ≥ τ(M)·(1 + γ|λ_max(M)|)/(1 + γ|λ_min(M)|) with A = M − γMᵀM. The independent computation
writes M by hand (Lemma 2: [[0, ½I], [−½I, −½(σ²I + vvᵀ)]] in (φ − v, θ)) and takes full
eigen-decompositions with numpy; gantrain-analyze gets both Jacobians by autograd of the exact
expected field.
"""
from __future__ import annotations

import numpy as np
import pytest

from gantrain.analysis.conditions import conopt_bound
from gantrain.analyze import format_table, spectrum_at
from tests.helpers import make_cfg


def numpy_bound(mu: float, sigma: float, n: int, gamma: float) -> dict:
    v = np.zeros(n)
    v[-1] = mu
    eye = np.eye(n)
    M = np.block([[0 * eye, 0.5 * eye], [-0.5 * eye, -0.5 * (sigma**2 * eye + np.outer(v, v))]])
    A = M - gamma * M.T @ M
    m, a = np.abs(np.linalg.eigvals(M)), np.abs(np.linalg.eigvals(A))
    tau_m, tau_a = m.max() / m.min(), a.max() / a.min()
    bound = tau_m * (1 + gamma * m.max()) / (1 + gamma * m.min())
    return {"tau_conopt": tau_a, "tau_simgd": tau_m, "bound": bound}


GAMES = [(float(mu), float(sigma), int(n), float(g)) for mu, sigma, n, g in zip(
    np.random.default_rng(30).uniform(0, 6, 8), np.random.default_rng(31).uniform(0.1, 1.2, 8),
    np.random.default_rng(32).integers(1, 4, 8), 10 ** np.random.default_rng(33).uniform(-2, 2, 8))]


@pytest.mark.parametrize("mu,sigma,n,gamma", GAMES)
def test_eq30_holds_and_is_reported_on_random_games(mu, sigma, n, gamma):
    r = spectrum_at(make_cfg("dataset=gaussian", "method=conopt", f"gamma={gamma}",
                             f"dataset.mu={mu}", f"dataset.sigma={sigma}", f"dataset.dim={n}"))
    want = numpy_bound(mu, sigma, n, gamma)
    got = r["conopt_bound"]
    for key in ("tau_conopt", "tau_simgd", "bound"):
        assert got[key] == pytest.approx(want[key], rel=1e-6), key
    assert want["tau_conopt"] >= want["bound"] * (1 - 1e-9)     # the theorem, by numpy
    assert got["holds"] is True and "eq. (30)" in format_table(r)


def test_the_check_can_fail():
    """A made-up spectrum that violates eq. (30) is reported as violated."""
    simgd = [-4.0, -0.25]                       # τ(M) = 16
    out = conopt_bound([-5.0, -1.0], simgd, gamma=1.0)
    assert out["bound"] == pytest.approx(16 * 5 / 1.25) and out["holds"] is False


def test_only_conopt_gets_the_bound():
    r = spectrum_at(make_cfg("dataset=gaussian", "method=jare", "gamma=1"))
    assert r["conopt_bound"] is None
