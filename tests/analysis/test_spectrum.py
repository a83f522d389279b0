"""gantrain-analyze's spectra: theorems on random Gaussian games, Arnoldi against dense, the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gantrain.analysis.jacobian import JacobianOperator, top_eigenvalues
from gantrain.analysis.theory import simgd_jacobian
from gantrain.analyze import spectrum_at
from gantrain.closed_forms import alternating_multipliers
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.rules import build_rule
from tests.helpers import make_cfg
from tests.report.test_report import assert_png

RNG = np.random.default_rng(2024)
RANDOM_GAMES = [(round(RNG.uniform(0.5, 5), 3), round(RNG.uniform(0.1, 1.5), 3), int(RNG.integers(1, 4)),
                 round(float(10 ** RNG.uniform(-1, 2)), 3)) for _ in range(6)]


def as_complex(pairs):
    return np.array([complex(re, im) for re, im in pairs])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["simgd", "jare_g", "jare_d", "jare"])
@pytest.mark.parametrize("mu,sigma,n,gamma", RANDOM_GAMES)
def test_spectrum_matches_the_theorems(method, mu, sigma, n, gamma):
    cfg = make_cfg("dataset=gaussian", f"method={method}", f"gamma={gamma}", f"dataset.mu={mu}",
                   f"dataset.sigma={sigma}", f"dataset.dim={n}")
    r = spectrum_at(cfg)
    got, want = as_complex(r["eigenvalues"]), as_complex(r["theory_eigenvalues"])
    # both lists are sorted the same way; match them as multisets to be safe with ties
    from scipy.optimize import linear_sum_assignment
    cost = np.abs(got[:, None] - want[None, :])
    i, j = linear_sum_assignment(cost)
    assert (cost[i, j] / np.maximum(1, np.abs(want[j]))).max() < 1e-8
    assert r["spectrum"] == "full" and r["n_params"] == 2 * n


def test_conopt_spectrum_has_no_closed_form_but_matches_m_minus_gamma_mtm():
    cfg = make_cfg("dataset=gaussian", "method=conopt", "gamma=3", "dataset.mu=2", "dataset.sigma=0.5")
    r = spectrum_at(cfg)
    assert r["theory_eigenvalues"] is None
    M = simgd_jacobian(2.0, 0.5, 2)
    want = np.sort_complex(np.linalg.eigvals(M - 3 * M.T @ M))
    np.testing.assert_allclose(np.sort_complex(as_complex(r["eigenvalues"])), want, atol=1e-9)


def test_altgd_multipliers_are_the_product_of_half_steps():
    M = simgd_jacobian(2.0, 0.5, 2)
    h = 0.1
    eye = np.eye(4)
    G1, G2 = eye.copy(), eye.copy()
    G1[2:] += h * M[2:]          # discriminator half-step first
    G2[:2] += h * M[:2]
    want = np.sort_complex(np.linalg.eigvals(G2 @ G1))
    got = np.sort_complex(alternating_multipliers(M, 2, h, d_first=True))
    np.testing.assert_allclose(got, want, atol=1e-12)
    cfg = make_cfg("dataset=gaussian", "method=altgd", "dataset.mu=2", "dataset.sigma=0.5", "eta=0.1")
    r = spectrum_at(cfg)
    np.testing.assert_allclose(np.sort_complex(as_complex(r["multipliers"])), want, atol=1e-9)
    assert r["stable"] == bool(np.abs(want).max() < 1)


def small_mlp_operator(batches=3):
    cfg = make_cfg("dataset.modes=3", "arch.depth=1", "arch.width=6", "arch.z_dim=2", "method=jare",
                   "gamma=1.5", "batch_size=16", "loss=standard")
    torch.manual_seed(0)
    game = build_game(validate(cfg), dtype=torch.float64)
    rng = torch.Generator().manual_seed(1)
    losses = [game.losses(*game.sample_batch(16, rng)) for _ in range(batches)]
    rule = build_rule("jare", 1.5, {})
    return JacobianOperator(rule, losses, game.d_params(), game.g_params(), zero_sum=game.zero_sum)


def test_arnoldi_top_k_matches_dense_eigenvalues():
    op = small_mlp_operator()
    dense = op.dense().numpy()
    v = np.random.default_rng(0).standard_normal(op.n)
    np.testing.assert_allclose(op.matvec(v).numpy(), dense @ v, rtol=1e-9, atol=1e-10)
    ev = np.linalg.eigvals(dense)
    k = 5
    lm = top_eigenvalues(op, k, "LM")
    want_lm = ev[np.argsort(-np.abs(ev))[:k]]
    np.testing.assert_allclose(np.sort(np.abs(lm)), np.sort(np.abs(want_lm)), rtol=1e-7)
    lr = top_eigenvalues(op, k, "LR")
    want_lr = np.sort(ev.real)[::-1][:k]
    np.testing.assert_allclose(np.sort(lr.real)[::-1], want_lr, rtol=1e-7, atol=1e-9)


def test_analyze_uses_arnoldi_above_dense_max(tmp_path):
    cfg = make_cfg("dataset.modes=3", "arch.depth=1", "arch.width=6", "arch.z_dim=2", "method=jare",
                   "analysis.point=init", "analysis.batches=2", "analysis.k=4")
    full = spectrum_at(cfg)
    cfg.analysis.dense_max = 10
    part = spectrum_at(cfg)
    assert full["spectrum"] == "full" and part["spectrum"] == "top_k"
    full_ev, part_ev = as_complex(full["eigenvalues"]), as_complex(part["eigenvalues"])
    np.testing.assert_allclose(np.sort(np.abs(part_ev)), np.sort(np.abs(full_ev))[-4:], rtol=1e-6)
    # Lemma 4 by hand: min 2|Re λ|/|λ|² over the eigenvalues found (all in the left half-plane)
    assert (part_ev.real < 0).all()
    lemma4 = float((2 * np.abs(part_ev.real) / np.abs(part_ev) ** 2).min())
    assert part["max_stable_lr"] == pytest.approx(lemma4, rel=1e-9)


@pytest.mark.slow
def test_cli_writes_spectrum_json(tmp_path):
    exe = Path(sys.executable).with_name("gantrain-analyze")
    out = tmp_path / "an"
    proc = subprocess.run([str(exe), "dataset=gaussian", "method=jare", "gamma=10", "dataset.mu=4",
                           "dataset.sigma=0.2", "dataset.dim=3", "optim.lr=1e-3", "analysis.gammas=[1,10]",
                           f"hydra.run.dir={out}"], capture_output=True, text=True,
                          env={**os.environ, "WANDB_MODE": "disabled"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    r = json.loads((out / "spectrum.json").read_text())
    for key in ("method", "gamma", "lr", "point", "eigenvalues", "theory_eigenvalues", "zeta", "tau",
                "max_stable_lr", "stable", "iterations_lower_bound"):
        assert key in r
    assert r["method"] == "jare" and r["point"] == "equilibrium" and len(r["eigenvalues"]) == 6
    assert r["stable"] is True and r["max_stable_lr"] > 1e-3
    assert "zeta" in proc.stdout and "stable" in proc.stdout
    for png in ("spectrum.png", "compare.png", "factors_vs_gamma.png"):
        assert_png(out / png, min_side=200)


def test_simgd_iteration_bounds_follow_the_corollaries():
    cfg = make_cfg("dataset=gaussian", "method=simgd", "dataset.mu=2", "dataset.sigma=0.5")
    r = spectrum_at(cfg)
    b = r["iterations_lower_bound"]
    zeta, tau = r["zeta"], r["tau"]
    c = np.sqrt(4) * 0.05
    assert b["corollary1"] == int(np.ceil(2 * np.log(c / b["eps"]) / np.log(1 + 1 / zeta**2)))
    assert b["corollary2"] == int(np.ceil(2 * np.log(c / b["eps"]) / np.log(tau / (tau - 2))))


def test_equilibrium_needs_the_gaussian_game():
    from gantrain.errors import ConfigError

    with pytest.raises(ConfigError, match="analysis.point"):
        spectrum_at(make_cfg("arch.width=4", "arch.depth=1"))
