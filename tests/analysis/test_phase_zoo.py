"""Phase diagrams of the rules of docs/methods.md §8 (gantrain/analysis/phase.py): a grid point is
``gantrain.train``'s run with the same seed, γ and η, and CGD's Lemma 4 bound is the first step size
where its own map I + h·J_cgd(h) stops contracting, by a scan written here from a hand-built
Jacobian."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gantrain.analysis.phase import lemma4_boundary, run_grid
from gantrain.train import train
from tests.helpers import make_cfg
from tests.rules.test_zoo_rules import hand_m

# (method, γ, η): the run moves visibly in 60 steps; γ matters for sga and r1 only.
RULES = [("sga", 1.0, 0.05), ("r1", 1.0, 0.05), ("extragradient", 1.0, 0.05),
         ("optimistic", 1.0, 0.05), ("cgd", 1.0, 0.05)]
# CG stops at a relative residual; a grid runs until its last point gets there, so its points
# may take more iterations than their single runs (~1e-9 apart after 60 steps at the default
# cg_tol). With cg_tol=0 both take all cg_iters iterations (3: two unknowns per point).
EXTRA = {"cgd": ("method.cg_tol=0", "method.cg_iters=3")}
STEPS, LOG_EVERY = 60, 20


def single_run(tmp_path: Path, method: str, gamma: float, eta: float):
    cfg = make_cfg("dataset=gaussian", "dataset.mu=4", "seed=3", "dtype=float64",
                   f"steps={STEPS}", f"log_every={LOG_EVERY}", f"checkpoint_every={STEPS}",
                   f"method={method}", f"gamma={gamma}", f"eta={eta}", *EXTRA.get(method, ()))
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed"
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    return cfg, ckpt["modules"], {m["step"]: m["dist_equilibrium"] for m in metrics}


@pytest.mark.parametrize("method,gamma,eta", RULES)
def test_grid_point_follows_the_single_run(tmp_path, method, gamma, eta):
    """Point 1 has the single run's γ and η; point 0 half its η, point 2 three times its γ and
    point 3 an η that blows up at once (frozen; it must not leak into the others). CGD takes
    each point's own η (``method.eta`` follows the step size), optimistic keeps one memory per
    point, R1 one penalty weight per point."""
    cfg, modules, logged = single_run(tmp_path, method, gamma, eta)
    if method == "cgd":   # the grid must replace method.eta by each point's step size
        cfg = copy.deepcopy(cfg)
        cfg.method.eta = 7 * eta
    res = run_grid(cfg, [eta / 2, eta, eta, 20.0], [gamma, gamma, 3 * gamma, gamma], STEPS,
                   record_every=LOG_EVERY)
    assert res.diverged_at.tolist()[:3] == [0, 0, 0] and res.diverged_at[3] > 0
    k = 1
    torch.testing.assert_close(res.game.generator.phi[k].detach(), modules["generator"]["phi"],
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(res.game.discriminator.theta[k].detach(),
                               modules["discriminator"]["theta"], rtol=1e-10, atol=1e-12)
    assert sorted(logged) == sorted(res.history)
    for step, dist in logged.items():
        assert res.history[step][k] == pytest.approx(dist, rel=1e-10, abs=1e-12), step
    assert abs(res.history[STEPS][0] - res.history[STEPS][1]) > 1e-4   # η matters
    if method in ("sga", "r1"):                                          # γ matters
        assert abs(res.history[STEPS][2] - res.history[STEPS][1]) > 1e-4
    else:                                                                # γ is not used
        assert res.history[STEPS][2] == res.history[STEPS][1]


def cgd_map_radius(h: float, M: np.ndarray, eta: float | None = None) -> float:
    """ρ(I + h·J_cgd) at the Gaussian game's equilibrium, J_cgd = P(η)·M with η = h unless given:
    there the mixed blocks are A = ∂g_φ/∂θ = −½I, B = ∂g_θ/∂φ = ½I (see ``hand_m``), so
    u_φ = (g_φ + (η/2)g_θ)/(1 + η²/4) and u_θ = g_θ − (η/2)u_φ = (g_θ − (η/2)g_φ)/(1 + η²/4):
    P(η) = [[I, (η/2)I], [−(η/2)I, I]]/(1 + η²/4), and −u ≈ P·M·(w − w*)."""
    eta = h if eta is None else eta
    n = M.shape[0] // 2
    eye = np.eye(n)
    P = np.block([[eye, eta / 2 * eye], [-eta / 2 * eye, eye]]) / (1 + eta * eta / 4)
    return float(np.abs(np.linalg.eigvals(np.eye(2 * n) + h * P @ M)).max())


def first_unstable_step(rho) -> float:
    """The first h with ρ(h) >= 1, by a linear scan of (0, 2] and bisection."""
    hs = np.linspace(1e-3, 2.0, 2000)
    stable = np.array([rho(h) < 1 for h in hs])
    i = int(np.argmin(stable))
    assert stable[0] and not stable[i]
    lo, hi = hs[i - 1], hs[i]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rho(mid) < 1 else (lo, mid)
    return float(lo)


def test_cgd_lemma4_bound_is_the_scan_of_its_own_map():
    """The first h at which I + h·J_cgd(h) has a multiplier of modulus 1. J_cgd depends on h
    itself (η is the step size): at the config's fixed η = 1 the bound would be ~18 % larger.
    (One dimension: the bound costs 260 Jacobians of the dense-solve field.)"""
    mu, sigma, eta = 4.0, 0.2, 1.0
    M = hand_m(mu, sigma, 1)
    want = first_unstable_step(lambda h: cgd_map_radius(h, M))
    fixed_eta = first_unstable_step(lambda h: cgd_map_radius(h, M, eta))
    assert abs(fixed_eta - want) > 0.05 * want
    cfg = make_cfg("dataset=gaussian", "method=cgd", f"dataset.mu={mu}", f"dataset.sigma={sigma}",
                   "dataset.dim=1", f"eta={eta}")
    got = lemma4_boundary(cfg, [0.5, 5.0])
    assert got[0] == got[1]                                  # one bound for every γ
    assert got[0] == pytest.approx(want, rel=1e-7)
