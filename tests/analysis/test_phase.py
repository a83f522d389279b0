"""Stability phase diagrams (gantrain/analysis/phase.py): the batched grid against single runs,
the classes against the papers' claims and Lemma 4, and the ``gantrain-analyze`` command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gantrain.analysis.phase import PhaseSettings, axis_values, classify, lemma4_boundary, run_grid
from gantrain.analysis.stability import max_stable_step
from gantrain.analysis.theory import gaussian_eigenvalues
from gantrain.errors import ConfigError
from gantrain.train import train
from tests.helpers import make_cfg
from tests.report.test_report import assert_png

# (method, gamma, eta): settings where the run moves visibly in a few hundred steps.
SINGLE = [("simgd", 1.0, 0.05), ("conopt", 1.0, 1e-2), ("jare", 10.0, 2e-2), ("altgd", 1.0, 0.05)]


def _single_run(tmp_path: Path, *overrides: str):
    cfg = make_cfg("dataset=gaussian", "dataset.mu=4", "seed=3", "steps=300", "log_every=50",
                   "checkpoint_every=300", *overrides)
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed"
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    return cfg, ckpt["modules"], {m["step"]: m["dist_equilibrium"] for m in metrics}


@pytest.mark.slow
@pytest.mark.parametrize("method,gamma,eta", SINGLE)
def test_grid_point_follows_the_single_run(tmp_path, method, gamma, eta):
    """A grid point is gantrain.train's run with the same seed, method, γ and η: same batches
    (GaussianGame.sample_batch on Generator().manual_seed(seed + 1)), same rule objects. The other
    points have other settings, one of them blows up at once and is frozen; none of it leaks."""
    cfg, modules, logged = _single_run(tmp_path, f"method={method}", f"gamma={gamma}", f"eta={eta}")
    lrs = [eta / 2, eta, eta, 20.0]
    gammas = [gamma, gamma, 3 * gamma, gamma]
    res = run_grid(cfg, lrs, gammas, cfg.steps, record_every=cfg.log_every)
    k = 1
    assert res.diverged_at.tolist()[:3] == [0, 0, 0] and res.diverged_at[3] > 0
    game = res.game
    # float32: the grid scores generated samples as θᵀφ + θᵀz, the single game as θᵀ(φ + z).
    torch.testing.assert_close(game.generator.phi[k].detach(), modules["generator"]["phi"],
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(game.discriminator.theta[k].detach(),
                               modules["discriminator"]["theta"], rtol=1e-5, atol=1e-6)
    assert sorted(logged) == sorted(res.history)
    for step, dist in logged.items():  # atol: a few float32 ulps of φ ≈ v = 4·e_n
        assert res.history[step][k] == pytest.approx(dist, rel=1e-5, abs=5e-6), step
    if method != "simgd" and method != "altgd":  # γ matters: the third point went elsewhere
        assert abs(res.history[cfg.steps][2] - res.history[cfg.steps][1]) > 1e-4


def test_grid_point_matches_the_single_run_in_float64(tmp_path):
    cfg, modules, logged = _single_run(tmp_path, "method=conopt", "gamma=3", "eta=1e-2",
                                       "dtype=float64", "batch_size=64")
    res = run_grid(cfg, [1e-2, 3e-2], [3.0, 3.0], cfg.steps, record_every=cfg.log_every)
    torch.testing.assert_close(res.game.generator.phi[0].detach(), modules["generator"]["phi"],
                               rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(res.game.discriminator.theta[0].detach(),
                               modules["discriminator"]["theta"], rtol=1e-12, atol=1e-13)
    for step, dist in logged.items():
        assert res.history[step][0] == pytest.approx(dist, rel=1e-11, abs=1e-13)


def _mu6(method: str, *overrides: str):
    return make_cfg("dataset=gaussian", f"method={method}", "dataset.mu=6", "dataset.sigma=0.2",
                    "gamma=10", *overrides)


@pytest.mark.slow
def test_conopt_fails_where_jare_converges_at_mu6():
    """JARE §4 / experiments: at μ = 6, σ = 0.2, γ = 10 ConOpt at lr 1e-3 leaves the equilibrium
    (the loss saturates, so it circles ~1.4 away instead of blowing up) while JARE converges.
    JARE's slowest mode has Re λ ≈ −0.285, so at lr 1e-3 it needs ~10⁴ steps to reach tol; at
    lr 1e-2, 3000 steps are plenty."""
    lrs, steps, tol = [1e-3, 1e-2], 3000, 1e-2
    conopt = run_grid(_mu6("conopt"), lrs, [10.0, 10.0], steps)
    jare = run_grid(_mu6("jare"), lrs, [10.0, 10.0], steps)
    d0 = float(conopt.initial_distance[0])
    assert classify(conopt, tol) == ["diverged", "diverged"]
    assert float(conopt.max_distance[0]) > 5 * d0      # far from the equilibrium before the freeze
    assert classify(jare, tol)[1] == "converged"
    assert classify(jare, tol)[0] != "diverged"
    assert float(jare.final_distance[0]) < 0.8 * d0       # on its way in, just slowly


@pytest.mark.parametrize("method,factor", [("conopt", 3.0), ("jare", 10.0)])
def test_lemma4_bound_separates_stable_from_unstable_steps(method, factor):
    """Just under the Lemma 4 bound the runs contract, just over it they leave; the loss
    saturating, they then circle at a bounded distance, so the divergence test is the distance
    factor: ConOpt at 1.25× the bound circles ~0.7 from a start 0.1 away (factor 3 catches it; it
    never passes the start distance below the bound), JARE at 1.25× reaches ~3.5, while below the
    bound its stiff mode (λ ≈ −22.7, non-normal) throws it out to ~0.4 on the first step before
    it contracts (factor 10). The noise of the batch does not blur this: the stiff eigenvalues
    come from vvᵀ with ‖v‖ = μ = 6, which a batch of 128 moves by O(σ/(μ√B)) ≈ 0.3 %, far less
    than the ±20 % margins (the classes are the same with batch_size=1024 or σ = 0.05).
    SimGD is left out: its binding mode is the weakly damped rotation (|1 + hλ| − 1 = O(hσ²)),
    too slow to leave in a short run, and there the noise does matter."""
    cfg = _mu6(method)
    bound = lemma4_boundary(cfg, [10.0])[0]
    if method == "jare":  # the Jacobian's spectrum is Theorem 3's
        theory = gaussian_eigenvalues("jare", 6.0, 0.2, 2, 10.0)
        assert bound == pytest.approx(max_stable_step(theory), rel=1e-8)
    res = run_grid(cfg, [0.8 * bound, 1.25 * bound], [10.0, 10.0], 600, diverge_factor=factor)
    d0 = float(res.initial_distance[0])
    assert res.diverged_at[0] == 0 and float(res.final_distance[0]) < 0.7 * d0
    if method == "conopt":  # no transient: it never leaves the start distance below the bound
        assert float(res.max_distance[0]) <= d0 * (1 + 1e-6)
    assert res.diverged_at[1] > 0


def test_axis_values_and_settings():
    assert axis_values([1e-3, 0.1], None, "lrs", "lr_range") == [1e-3, 0.1]
    vals = axis_values(None, {"min": 1e-4, "max": 1.0, "num": 5}, "lrs", "lr_range")
    assert vals == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    for bad in ([], [0.0, 1.0], "x"):
        with pytest.raises(ConfigError, match="phase.lrs"):
            axis_values(bad, None, "lrs", "lr_range")
    with pytest.raises(ConfigError, match="phase.gamma_range"):
        axis_values(None, {"min": 1.0, "max": 0.1, "num": 3}, "gammas", "gamma_range")
    from omegaconf import OmegaConf
    cfg = OmegaConf.create({"phase": {"lrs": None, "lr_range": {"min": 1e-3, "max": 1e-1, "num": 3},
                                      "gammas": [1, 10], "gamma_range": None, "steps": 0,
                                      "tol": 0.01, "diverge_factor": 10, "max_param_norm": 1e6,
                                      "boundary_points": 5}})
    with pytest.raises(ConfigError, match="phase.steps"):
        PhaseSettings.from_cfg(cfg)
    # a default lives in conf/analyze.yaml alone: a key an override removed is named, not
    # silently defaulted again in code
    del cfg.phase.tol
    with pytest.raises(ConfigError, match=r"^phase.tol is missing"):
        PhaseSettings.from_cfg(cfg)


def _analyze(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "gantrain-analyze"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run([str(exe), f"hydra.run.dir={tmp_path}", "logger=none", "progress=false",
                           *overrides], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_cli_phase_mode_writes_json_and_png(tmp_path):
    out = _analyze(tmp_path, "analysis.mode=phase", "dataset=gaussian", "method=jare",
                   "dataset.mu=6", "phase.lrs=[1e-3,2e-2,0.5]", "phase.gamma_range.min=1",
                   "phase.gamma_range.max=10", "phase.gamma_range.num=2", "phase.steps=300",
                   "phase.boundary_points=10")
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "phase.json").read_text())
    assert data["method"] == "jare" and data["steps"] == 300
    assert data["lrs"] == [1e-3, 2e-2, 0.5] and data["gammas"] == pytest.approx([1.0, 10.0])
    assert len(data["classes"]) == 3 and all(len(row) == 2 for row in data["classes"])
    assert set(c for row in data["classes"] for c in row) <= {"converged", "too_slow", "diverged"}
    assert data["classes"][2] == ["diverged", "diverged"]     # lr 0.5: far over the bound
    assert data["diverged_at"][0] == [None, None]
    assert len(data["lemma4"]["gammas"]) == 10 and len(data["lemma4"]["at_grid_gammas"]) == 2
    assert sum(data["counts"].values()) == 6 and data["timings"]["grid_s"] > 0
    assert_png(tmp_path / "phase.png", min_side=200)
    assert "phase diagram: jare" in out.stdout


@pytest.mark.slow
def test_cli_phase_mode_rejects_other_datasets(tmp_path):
    out = _analyze(tmp_path, "analysis.mode=phase", "dataset=cifar10")
    assert out.returncode == 2
    assert "allowed: gaussian" in out.stderr and "Traceback" not in out.stderr


def test_grid_game_expected_field_is_each_points_own():
    """Summing the points' losses gives each point its own gradient, for the exact expectation too
    (``expected_losses`` is inherited: its quadrature weights broadcast over the grid)."""
    from gantrain.config import validate
    from gantrain.games import build_game
    from gantrain.games.gaussian_grid import GaussianGridGame
    from gantrain.rules import build_rule

    cfg = make_cfg("dataset=gaussian", "dataset.mu=3", "method=conopt", "dtype=float64")
    grid = GaussianGridGame(cfg.dataset, cfg.arch, cfg.loss.name, "cpu", torch.float64, 3)
    with torch.no_grad():
        grid.generator.phi.add_(torch.tensor([[0.1, -0.2], [0.0, 0.3], [-0.1, 0.05]],
                                             dtype=torch.float64))
        grid.discriminator.theta.mul_(torch.tensor([[1.0], [-2.0], [3.0]], dtype=torch.float64))
    gammas = torch.tensor([0.5, 3.0, 10.0], dtype=torch.float64)
    out = build_rule("conopt", gammas, {}).direction(
        [grid.expected_losses()], grid.d_params(), grid.g_params(), zero_sum=True)
    for k in range(3):
        single = build_game(validate(cfg), "cpu", torch.float64)
        with torch.no_grad():
            single.generator.phi.copy_(grid.generator.phi[k])
            single.discriminator.theta.copy_(grid.discriminator.theta[k])
        ref = build_rule("conopt", float(gammas[k]), {}).direction(
            [single.expected_losses()], single.d_params(), single.g_params(), zero_sum=True)
        torch.testing.assert_close(out.u_g[0][k], ref.u_g[0], rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(out.u_d[0][k], ref.u_d[0], rtol=1e-12, atol=1e-14)
