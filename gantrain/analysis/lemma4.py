"""Lemma 4 for the phase diagrams: the largest stable SGD step of the Gaussian game's expected
field at its equilibrium, for each γ, and how often it predicts a trained grid (docs/methods.md
§5.2). A rule's own facts say how: a map rule (``map_of``) by its map's multipliers, a rule whose
field depends on the step (``field_follows_step``, CGD) by ρ(I + h·J(h)), any other by its field.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

_NO_GAMMA_BOUNDS: dict[tuple, float] = {}   # the bound of a rule without γ, per game and options


def lemma4_boundary(cfg, gammas: Sequence[float]) -> list[float]:
    """For each γ, the largest stable lr of the expected field at the equilibrium (Lemma 4). Rules
    whose SGD step is not I + lr·J take the spectral radius of their own map: AltGD's alternating
    half-steps and the two-point maps on the plain gradient field, and CGD, whose field itself
    depends on lr (its η), ρ(I + lr·J(lr)). float64, exact expectation.

    Args:
        cfg: the composed config.
        gammas: the γ values.
    Returns:
        the largest stable lr at each γ.
    """
    import torch

    from gantrain.analysis.jacobian import field_jacobian
    from gantrain.analysis.spectrum import move_to_point
    from gantrain.analysis.stability import max_stable_step
    from gantrain.games.gaussian import GaussianGame
    from gantrain.rules import RULES, build_rule

    game = GaussianGame(cfg.dataset, cfg.arch, cfg.loss.name, "cpu", torch.float64)
    move_to_point(game, "equilibrium", "cpu")
    d_params, g_params = game.d_params(), game.g_params()
    order = int(cfg.analysis.quadrature_order)
    name = cfg.method.name
    method = RULES[name]
    options = {k: v for k, v in cfg.method.items() if k != "name"}

    def jacobian(rule) -> np.ndarray:
        return field_jacobian(rule, rule.expected_losses(game, order), d_params, g_params,
                              zero_sum=game.zero_sum).numpy()

    if not method.uses_gamma:   # no γ: one bound for all
        key = (name, float(cfg.dataset.mu), float(cfg.dataset.sigma), int(cfg.dataset.dim),
               cfg.arch.name, cfg.loss.name, order, repr(sorted(options.items())))
        if key not in _NO_GAMMA_BOUNDS:
            _NO_GAMMA_BOUNDS[key] = _no_gamma_bound(method, options, jacobian, d_params, g_params)
        return [_NO_GAMMA_BOUNDS[key] for _ in gammas]
    return [max_stable_step(np.linalg.eigvals(jacobian(build_rule(name, float(g), options))))
            for g in gammas]


def _no_gamma_bound(method, options: dict, jacobian, d_params, g_params) -> float:
    """Lemma 4's bound of a rule without γ: a map rule's multipliers on its field's Jacobian, a
    rule whose field depends on the step (CGD) ρ(I + h·J(h)), else the field's own bound."""
    from gantrain.analysis.stability import max_stable_step, scan_max_stable_step
    from gantrain.rules import build_rule

    if method.field_follows_step:   # a Jacobian (a dense solve) per step: a coarser scan
        eye = np.eye(sum(p.numel() for p in (*d_params, *g_params)))
        rho = lambda h: np.abs(np.linalg.eigvals(  # noqa: E731
            eye + h * jacobian(build_rule(method.name, 0.0, method.at_step(options, h))))).max()
        return scan_max_stable_step(rho, num=60)
    if method.map_of is None:
        return max_stable_step(np.linalg.eigvals(jacobian(build_rule(method.name, 0.0, options))))
    J = jacobian(method.map_of())
    n_g = sum(p.numel() for p in g_params)
    ev = np.linalg.eigvals(J)
    return scan_max_stable_step(
        lambda h: np.abs(method.map_multipliers(J, ev, n_g, h, options)).max())


def lemma4_section(cfg, s: Any, classes: list[list[str]]) -> dict:
    """Lemma 4's boundary over the γ range and at the grid's γ, and how often it predicts the grid.

    Args:
        cfg: the composed config.
        s: the phase settings (``gantrain.analysis.phase.PhaseSettings``).
        classes: the grid's classes, [i][j] at lr = lrs[i], γ = gammas[j].
    Returns:
        the ``lemma4`` section of phase.json.
    """
    lo, hi = min(s.gammas), max(s.gammas)
    dense = [float(g) for g in np.geomspace(lo, hi, s.boundary_points)] if hi > lo else [lo]
    bound_dense = lemma4_boundary(cfg, dense)
    bound_grid = lemma4_boundary(cfg, s.gammas)
    predicted = [[lr < h for h in bound_grid] for lr in s.lrs]
    observed_stable = [[c != "diverged" for c in row] for row in classes]
    agree = sum(p == o for pr, orow in zip(predicted, observed_stable) for p, o in zip(pr, orow))
    return {"gammas": dense, "max_stable_lr": bound_dense, "at_grid_gammas": bound_grid,
            "predicted_stable": predicted, "agreement": agree / (len(s.lrs) * len(s.gammas)),
            "note": "stable iff lr < max_stable_lr (Jacobian of the expected field at the "
                    "equilibrium, float64); agreement = share of points where "
                    "'not diverged' equals 'predicted stable'"}
