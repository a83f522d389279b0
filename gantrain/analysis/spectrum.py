"""The spectrum of a method's update field at a point, with the theory's numbers beside it."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from gantrain.analysis.conditions import point_conditions
from gantrain.analysis.jacobian import JacobianOperator, field_jacobian, top_eigenvalues
from gantrain.analysis.stability import (
    conditioning_factor,
    iteration_lower_bounds,
    max_stable_step,
    phase_factor,
    scan_max_stable_step,
)
from gantrain.analysis.theory import dirac_eigenvalues, fullrank_eigenvalues, gaussian_eigenvalues
from gantrain.errors import ConfigError, first_line
from gantrain.games.base import Game
from gantrain.rules import RULES, build_rule


def pairs(ev) -> list[list[float]]:
    """Eigenvalues as [re, im] pairs, sorted by real part, then imaginary part.

    Args:
        ev: eigenvalues (any shape).
    Returns:
        a list of [re, im].
    """
    ev = np.asarray(ev, dtype=complex).reshape(-1)
    ev = ev[np.lexsort((ev.imag, ev.real))]
    return [[float(e.real), float(e.imag)] for e in ev]


def field_rule(cfg, gamma: float | None = None):
    """The field rule whose Jacobian is analysed, with the method's options.

    Args:
        cfg: the composed config.
        gamma: γ (default: ``cfg.gamma``).
    Returns:
        the rule; for a rule whose step is a map of another field's gradients (its ``map_of``:
        AltGD, extragradient, optimistic), that field rule, whose discrete map is analysed after.
    """
    rule = RULES[cfg.method.name]
    if rule.map_of is not None:
        return rule.map_of()
    return build_rule(cfg.method.name, cfg.gamma if gamma is None else gamma, cfg.method)


def point_label(point: str) -> str:
    """How a point is recorded: its name, or the checkpoint's path.

    Args:
        point: ``analysis.point``.
    Returns:
        the label.
    """
    return point if point in ("equilibrium", "init", "current") else str(Path(point))


def move_to_point(game: Game, point: str, device) -> str:
    """Put the game's parameters at ``point``: the equilibrium (Gaussian game), the seeded start,
    or a checkpoint (file, or run directory holding checkpoints/last.pt).

    Args:
        game: the game to move.
        point: ``equilibrium``, ``init``, ``current`` or a checkpoint path.
        device: where to load a checkpoint.
    Returns:
        the point's label.
    Raises:
        ConfigError: no known equilibrium, or a missing or unfitting checkpoint (one line).
    """
    if point == "equilibrium":
        if not hasattr(game, "v"):
            raise ConfigError("analysis.point='equilibrium' is invalid: only dataset=gaussian has a "
                              "known equilibrium; give init or a checkpoint path")
        with torch.no_grad():
            game.generator.phi.copy_(game.v)
            game.discriminator.theta.zero_()
        return "equilibrium"
    if point in ("init", "current"):
        return point
    path = Path(point)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    if not path.is_file():
        raise ConfigError(f"analysis.point={point!r} is invalid: no checkpoint at {path}; use "
                          "equilibrium, init, a checkpoint file or a run directory")
    bad = f"analysis.point={point!r} is invalid: {path}"
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        modules = payload["modules"]
        states = modules["generator"], modules["discriminator"]
    except Exception as e:  # torch.load raises many types (UnpicklingError, KeyError, EOFError ...)
        raise ConfigError(f"{bad} is not a gantrain checkpoint ({type(e).__name__}: "
                          f"{first_line(e)})") from None
    try:
        game.generator.load_state_dict(states[0])
        game.discriminator.load_state_dict(states[1])
    except RuntimeError as e:  # its message lists the mismatches, one per line after a header
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise ConfigError(f"{bad} does not fit this model ({lines[-1] if lines else e}); give the "
                          "run's arch/dataset settings") from None
    return str(path)


def analyze(cfg, game: Game, point: str, rng: torch.Generator | None = None) -> dict:
    """Spectrum and stability numbers of ``cfg``'s method at the game's current parameters.

    Args: cfg; game (at the point); point (its name); rng (default: from ``analysis.seed``).
    Returns: spectrum.json's content (eigenvalues, ζ, τ, step bounds, closed forms, conditions).
    """
    a = cfg.analysis
    rule = field_rule(cfg)
    d_params, g_params = game.d_params(), game.g_params()
    n_g = sum(p.numel() for p in g_params)
    n = n_g + sum(p.numel() for p in d_params)
    exact = hasattr(game, "expected_losses")
    partial, samples = False, None
    if exact:
        J = field_jacobian(rule, rule.expected_losses(game, int(a.quadrature_order)), d_params,
                           g_params, zero_sum=game.zero_sum).cpu().double().numpy()
    else:
        rng = rng or torch.Generator(device=game.device).manual_seed(int(a.seed))
        samples = [game.sample_batch(int(cfg.batch_size), rng) for _ in range(int(a.batches))]
        batches = [rule.losses(game, x, z) for x, z in samples]
        op = JacobianOperator(rule, batches, d_params, g_params, zero_sum=game.zero_sum)
        J = op.dense().cpu().double().numpy() if n <= int(a.dense_max) else None
        partial = J is None
    result: dict = {"method": cfg.method.name, "gamma": float(cfg.gamma), "lr": float(cfg.optim.lr),
                    "point": point_label(point), "dataset": cfg.dataset.name, "n_params": n,
                    "expectation": "exact (Gauss-Hermite quadrature)" if exact
                    else f"mean over {int(a.batches)} batches of {int(cfg.batch_size)}",
                    "spectrum": "top_k" if partial else "full"}
    if partial:
        ev = top_eigenvalues(op, int(a.k), "LM")
        result["eigenvalues"] = pairs(ev)
        result["eigenvalues_largest_real"] = pairs(top_eigenvalues(op, int(a.k), "LR"))
    else:
        ev = np.linalg.eigvals(J)
        result["eigenvalues"] = pairs(ev)
    lr = float(cfg.optim.lr)
    method = RULES[cfg.method.name]
    plain = ev
    equivalent = method.equivalent_eigenvalues(J, plain, lr)
    if equivalent is not None:
        # a two-point rule's equivalent field (to first order in lr): Jacobian J + lr·J², whose
        # eigenvalues are λ + lr·λ² (for a top-k spectrum: of the k eigenvalues found)
        result["plain_eigenvalues"] = result["eigenvalues"]
        ev = equivalent
        result["eigenvalues"] = pairs(ev)
        result["field"] = "equivalent field J + lr·J² (J: the SimGD field's Jacobian)"
    result["theory_eigenvalues"] = pairs_or_none(theory_eigenvalues(cfg, point))
    zeta, tau = phase_factor(ev), conditioning_factor(ev)
    result["zeta"], result["tau"] = _finite(zeta), _finite(tau)
    result.update(step_stability(method, J, plain, ev, n_g, lr, cfg.method))
    h_max = result["max_stable_lr"]
    # JARE App. C's flow-reversal cosines and Theorem 2's eq. (30) (ConOpt)
    result.update(point_conditions(cfg, game, rule, samples, ev, not partial))
    result["lr_over_max_stable_lr"] = _finite(lr / h_max) if h_max > 0 else None
    result["iterations_lower_bound"] = None
    if cfg.dataset.name == "gaussian" and cfg.arch.name == "linear" and method.plain_field:
        c = math.sqrt(2 * cfg.dataset.dim) * float(cfg.dataset.init_offset)
        result["iterations_lower_bound"] = iteration_lower_bounds(zeta, tau, c, float(a.eps))
    return result


def step_stability(method, jacobian, plain, eigenvalues, n_g: int, lr: float, options) -> dict:
    """Whether SGD at ``lr`` is stable, and the largest stable step.

    Args:
        method: the rule class; a map rule (``map_multipliers``) is judged by its map's
            multipliers on ``plain``'s field, any other by its field's eigenvalues.
        jacobian: the dense Jacobian of the analysed field, or None (top-k spectrum).
        plain: that field's eigenvalues; eigenvalues: those the step follows.
        n_g: the generator's number of parameters.
        lr: the step size.
        options: the ``method`` section.
    Returns:
        {"max_stable_lr", "stable"} and, for a map rule, "multipliers" as [re, im] pairs.
    """
    def multipliers(h):   # the map rule's multipliers at step h, or None
        return method.map_multipliers(jacobian, plain, n_g, h, options)

    mult = multipliers(lr)
    if mult is None:
        h_max = max_stable_step(eigenvalues)
        return {"max_stable_lr": h_max, "stable": lr < h_max}
    return {"multipliers": pairs(mult),
            "max_stable_lr": scan_max_stable_step(lambda h: np.abs(multipliers(h)).max()),
            "stable": bool(np.abs(mult).max() < 1)}


def theory_eigenvalues(cfg, point: str):
    """The closed-form spectrum at the Gaussian game's equilibrium, or None: Theorems 1–3 (and
    gradnorm's −γMᵀM) for arch=linear; App. B for arch=fullrank with dataset.dim=1 (exact for σ > 0,
    eq. (20) at σ → 0).

    Args:
        cfg: the composed config.
        point: the point's name.
    Returns:
        a complex array, or None.
    """
    if point != "equilibrium":
        return None
    if cfg.dataset.name == "dirac":   # a rule's own step (CGD's η) where its field has one
        lr = RULES[cfg.method.name].local_step(cfg.method, float(cfg.optim.lr))
        return dirac_eigenvalues(cfg.method.name, float(cfg.gamma), lr)
    if cfg.dataset.name != "gaussian":
        return None
    mu, sigma, n = float(cfg.dataset.mu), float(cfg.dataset.sigma), int(cfg.dataset.dim)
    if cfg.arch.name == "fullrank":
        return fullrank_eigenvalues(cfg.method.name, mu, sigma, float(cfg.gamma)) if n == 1 else None
    return gaussian_eigenvalues(cfg.method.name, mu, sigma, n, float(cfg.gamma),
                                float(cfg.optim.lr))


def pairs_or_none(ev) -> list[list[float]] | None:
    """``pairs(ev)``, or None for None."""
    return None if ev is None else pairs(ev)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
