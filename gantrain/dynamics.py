"""The continuous-time view of an update rule: w' = −u(w) with w = (φ, θ).

Its Jacobian at a point decides local stability (negative real parts are stable, the papers'
convention). Feed it exact expected losses (e.g. ``GaussianGame.expected_losses``) to get the
Jacobian of the expected update field.
"""
from __future__ import annotations

from typing import Sequence

import torch

from gantrain.rules.base import SimultaneousRule


def field_jacobian(rule: SimultaneousRule, losses: tuple[torch.Tensor, torch.Tensor],
                   d_params: Sequence[torch.Tensor], g_params: Sequence[torch.Tensor],
                   zero_sum: bool = False) -> torch.Tensor:
    """Dense Jacobian of −u with respect to (φ, θ), rows and columns in that order."""
    out = rule.direction([losses], d_params, g_params, create_graph=True, zero_sum=zero_sum)
    u = torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)])
    params = [*g_params, *d_params]
    rows = []
    for i in range(u.numel()):
        row = torch.autograd.grad(u[i], params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if r is None else r).reshape(-1)
                               for p, r in zip(params, row)]))
    return -torch.stack(rows).detach()


def max_stable_step(eigenvalues: torch.Tensor) -> float:
    """Lemma 4 (Numerics of GANs): I + hA is stable iff h < min 2|Re λ|/|λ|² (all Re λ < 0)."""
    ev = eigenvalues.to(torch.complex128)
    if (ev.real >= 0).any():
        return 0.0
    return float((2 * ev.real.abs() / ev.abs() ** 2).min())
