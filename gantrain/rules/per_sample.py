"""Per-sample gradients for ``regularizer_estimate=variance_corrected`` (docs/methods.md §3.1).

The Numerics supplement, after Lemma 15: an unbiased estimate of L = ½‖v‖² subtracts 1/(2B − 2)
times the sample variance S² = (1/B)Σ‖v_i − v̄‖² of the per-sample gradients from L_B = ½‖v̄‖².
Written with the per-sample squares it is

    L̂ = L_B − S²/(2(B − 1)) = B/(B − 1)·½‖v̄‖² − 1/(B − 1)·(1/B)Σ ½‖v_i‖²  = Σ_{i≠j} ⟨v_i, v_j⟩ / (2B(B − 1)),

a mean over pairs of distinct samples, so E L̂ = ½‖E v_1‖² when the v_i are independent with one
mean. Sample i is the pair (x_i, z_i) of the batch: the losses are batch means of per-pair terms,
so v̄ is the batch gradient.

The v_i come from torch.func: ``vmap`` over ``grad`` of one sample's loss, the parameters swapped
in by ``functional_call``; the stacks stay differentiable in the real parameters, so the gradient
of (1/B)Σ ½‖v_i‖² is one vector-Jacobian product of the stacks with themselves as cotangents.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.func import functional_call, grad, vmap

from gantrain.rules.tensors import Tensors

if TYPE_CHECKING:
    from gantrain.games.base import Game


@dataclass
class PerSample:
    """Per-sample gradient stacks [b, *p.shape] of this process's b rows, per player, and the
    global batch size B the correction divides by."""
    d: Tensors             # ∇_θ ℓ_D,i
    g: Tensors             # ∇_φ ℓ_G,i
    loss_d: torch.Tensor   # batch means of the per-sample losses
    loss_g: torch.Tensor
    batch_size: int        # B, the global batch (under torch.distributed: all processes' rows)


class _Losses(torch.nn.Module):
    """Both players as one module, so that ``functional_call`` swaps every parameter the rule's
    losses read (the submodules are the game's own)."""

    def __init__(self, rule, game: "Game"):
        super().__init__()
        self.d, self.g = game.discriminator, game.generator
        self._losses = lambda x, z: rule.losses(game, x, z)   # noqa: E731

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.stack(self._losses(x, z))


def per_sample_gradients(rule, game: "Game", x: torch.Tensor, z: torch.Tensor,
                         batch_size: int) -> PerSample:
    """Args: the rule (its ``losses``), the game, this process's rows (x, z) of the global batch
    of ``batch_size``. Returns: the per-sample gradients, differentiable in the parameters."""
    module = _Losses(rule, game)
    d_names = {id(p): f"d.{n}" for n, p in game.discriminator.named_parameters()}
    g_names = {id(p): f"g.{n}" for n, p in game.generator.named_parameters()}
    pd = {d_names[id(p)]: p for p in game.d_params()}
    pg = {g_names[id(p)]: p for p in game.g_params()}

    def one(which: int):
        def loss(own, other, xi, zi):
            out = functional_call(module, {**own, **other}, (xi.unsqueeze(0), zi.unsqueeze(0)))
            return out[which], out
        return loss

    per = lambda f, a, b: vmap(grad(f, has_aux=True), in_dims=(None, None, 0, 0))(a, b, x, z)  # noqa: E731
    v_d, losses = per(one(0), pd, pg)
    v_g, _ = per(one(1), pg, pd)
    losses = losses.mean(0)
    return PerSample(d=[v_d[k] for k in pd], g=[v_g[k] for k in pg], loss_d=losses[0],
                     loss_g=losses[1], batch_size=int(batch_size))
