"""The independent reference that rule tests compare with: the field v and every simultaneous
rule's direction from full Hessians of the players' losses, written as functions of one flat
parameter vector w = (φ, θ). It shares no code with gantrain.rules."""
from __future__ import annotations

from typing import Callable

import torch

Losses = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]   # w -> (L_D, L_G)


def split_flat(w: torch.Tensor, items, offset: int) -> dict[str, torch.Tensor]:
    """{name: tensor} views of w from ``offset`` on, for ``items`` of (name, shape, numel)."""
    out = {}
    for name, shape, k in items:
        out[name] = w[offset:offset + k].reshape(shape)
        offset += k
    return out


def field(losses: Losses, w: torch.Tensor, n_g: int) -> torch.Tensor:
    """v = (∇_φ L_G, ∇_θ L_D) by first-order autograd of the flat functions."""
    w = w.detach().requires_grad_(True)
    ld, lg = losses(w)
    gg = torch.autograd.grad(lg, w, allow_unused=True, retain_graph=True)[0]
    gd = torch.autograd.grad(ld, w, allow_unused=True)[0]
    zero = torch.zeros_like(w)
    gg, gd = (zero if gg is None else gg), (zero if gd is None else gd)
    return torch.cat([gg[:n_g], gd[n_g:]])


class FlatField:
    """Mixin for a class with ``losses(w)`` and ``n_g``: adds ``v(w)``."""

    n_g: int

    def losses(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def v(self, w: torch.Tensor) -> torch.Tensor:
        return field(self.losses, w, self.n_g)


def explicit_hessian_directions(losses: Losses, w: torch.Tensor, n_g: int,
                                gamma: float) -> dict[str, torch.Tensor]:
    """Every simultaneous rule's direction (rows φ then θ): v plus γ times its penalty's gradient,
    ∇½‖v‖² = Jᵀv for ConOpt and only the cross blocks for JARE, J = ∂v/∂w from full Hessians."""
    h_d = torch.autograd.functional.hessian(lambda w: losses(w)[0], w, vectorize=True)
    h_g = torch.autograd.functional.hessian(lambda w: losses(w)[1], w, vectorize=True)
    v = field(losses, w, n_g)
    jac = torch.cat([h_g[:n_g], h_d[n_g:]])            # ∂v/∂w, rows (φ, θ)
    g, d = slice(0, n_g), slice(n_g, None)
    full = jac.T @ v                                    # ∇ ½‖v‖²
    cross_g = jac[d, g].T @ v[d]                        # ∇_φ ½‖g_θ‖²
    cross_d = jac[g, d].T @ v[g]                        # ∇_θ ½‖g_φ‖²
    zero_g, zero_d = torch.zeros_like(v[g]), torch.zeros_like(v[d])
    pen = {"simgd": (zero_g, zero_d), "conopt": (full[g], full[d]), "jare": (cross_g, cross_d),
           "conopt_g": (full[g], zero_d), "conopt_d": (zero_g, full[d]),
           "jare_g": (cross_g, zero_d), "jare_d": (zero_g, cross_d)}
    return {m: torch.cat([v[g] + gamma * pg, v[d] + gamma * pd]) for m, (pg, pd) in pen.items()}
