"""Two of JARE's checks at a point, for `gantrain-analyze` (docs/methods.md §2.3, §4.3).

- App. C's Non-Reversing-Flow Condition: per player, the cosine between the rule's direction and
  the player's plain gradient of the game's own loss (``gantrain.rules.flow``), from the exact
  expected losses (Gaussian game) or the mean over the analysis batches.
- Theorem 2's ConOpt bound, eq. (30): τ(A) ≥ τ(M)·(1 + γ|λ_max(M)|)/(1 + γ|λ_min(M)|), A the ConOpt
  Jacobian and M the SimGD Jacobian at the same point (λ_max, λ_min: the eigenvalues of largest
  and smallest modulus, τ their ratio of moduli).
"""
from __future__ import annotations

import math

import numpy as np

from gantrain.rules.flow import flow_cosines, plain_gradients
from gantrain.rules.tensors import mean_of

# eq. (30) is about the rules with ``consensus_bound`` (ConOpt). (AltGD, extragradient and
# optimistic are analysed through SimGD's field, their ``map_of``, so their cosine at a point is 1:
# their steps are made of plain gradients; the training metric measures their real steps.)


def flow_reversal(rule, game, rule_losses, plain_losses, zero_sum: bool) -> dict:
    """App. C's diagnostic at the game's current point.

    Args: the field rule, the game, a list of (L_D, L_G) pairs the rule differentiates (its own
    losses: R1/R2 add their penalty) and the matching list of the game's plain losses.
    Returns: flow_cos_g, flow_cos_d (None where undefined) and reverses_generator,
    reverses_discriminator (cosine < 0)."""
    d_params, g_params = game.d_params(), game.g_params()
    us = [rule.direction([lp], d_params, g_params, zero_sum=zero_sum) for lp in rule_losses]
    plain = [plain_gradients(rule, game, lp, d_params, g_params) for lp in plain_losses]
    cos = flow_cosines(mean_of([u.u_d for u in us]), mean_of([u.u_g for u in us]),
                       mean_of([p[0] for p in plain]), mean_of([p[1] for p in plain]))
    out = {}
    for key, who in (("flow_cos_g", "generator"), ("flow_cos_d", "discriminator")):
        c = float(cos[key])
        out[key] = c if math.isfinite(c) else None
        out[f"reverses_{who}"] = None if out[key] is None else bool(c < 0)
    return out


def moduli_extremes(eigenvalues) -> tuple[float, float]:
    """(|λ|max, |λ|min) of a spectrum.

    Args:
        eigenvalues: a spectrum.
    Returns:
        (largest modulus, smallest modulus).
    """
    a = np.abs(np.asarray(eigenvalues, dtype=complex).reshape(-1))
    return float(a.max()), float(a.min())


def conopt_bound(conopt_eigenvalues, simgd_eigenvalues, gamma: float, rtol: float = 1e-9) -> dict:
    """Eq. (30) at a point from the two spectra.

    Args: ConOpt's eigenvalues (A), SimGD's (M), γ; ``rtol`` allows rounding at equality.
    Returns: tau_conopt, tau_simgd, delta (Δ(γ)), bound (τ(M)·Δ(γ)) and holds."""
    a_max, a_min = moduli_extremes(conopt_eigenvalues)
    m_max, m_min = moduli_extremes(simgd_eigenvalues)
    tau_a = a_max / a_min if a_min > 0 else math.inf
    tau_m = m_max / m_min if m_min > 0 else math.inf
    delta = (1 + gamma * m_max) / (1 + gamma * m_min)
    bound = tau_m * delta
    holds = bool(tau_a >= bound * (1 - rtol)) if math.isfinite(bound) else None
    finite = lambda x: x if math.isfinite(x) else None  # noqa: E731
    return {"tau_conopt": finite(tau_a), "tau_simgd": finite(tau_m), "delta": delta,
            "bound": finite(bound), "holds": holds}


def point_conditions(cfg, game, rule, samples, eigenvalues, full: bool) -> dict:
    """Both checks for ``analyze``: the flow cosines of ``rule`` and, for ConOpt with a full
    spectrum, eq. (30) (``conopt_bound``, None otherwise).

    Args: the config, the game at the point, the field rule, the analysis batches [(x, z), ...]
    (None: the game's exact expectation), the rule's eigenvalues, whether they are all of them."""
    order = int(cfg.analysis.quadrature_order)
    if samples is None:
        rule_losses, plain_losses = [rule.expected_losses(game, order)], [game.expected_losses(order)]
    else:
        rule_losses = [rule.losses(game, x, z) for x, z in samples]
        plain_losses = [game.losses(x, z) for x, z in samples]
    out = flow_reversal(rule, game, rule_losses, plain_losses, game.zero_sum)
    out["conopt_bound"] = None
    from gantrain.rules import RULES, plain_rule

    if RULES[cfg.method.name].consensus_bound and full:
        from gantrain.analysis.jacobian import JacobianOperator

        simgd = plain_rule()
        M = JacobianOperator(simgd, plain_losses, game.d_params(), game.g_params(),
                             zero_sum=game.zero_sum).dense().cpu().double().numpy()
        out["conopt_bound"] = conopt_bound(eigenvalues, np.linalg.eigvals(M), float(cfg.gamma))
    return out
