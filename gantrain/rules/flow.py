"""The flow-reversal diagnostic of JARE App. C (Condition 1, the Non-Reversing-Flow Condition).

A regularizer "should not reverse the overall gradient flow for the original minimax problem". For
each player the diagnostic is the cosine between the rule's update direction u (what the rule hands
the optimizer) and the player's plain gradient g of the game's own loss, at the same point and on
the same batch: ``flow_cos_g`` (generator), ``flow_cos_d`` (discriminator). A negative cosine means
the rule moves that player up its own loss: its flow is reversed. NaN (written as null) where the
player's plain gradient or the update is zero.

Where ∇²_φφ f = −t²I the appendix finds ConOpt's generator update (1 − γt²)∇_φf + γ∇²_φθf∇_θf and
gradnorm's (Γ = −Mᵀ) γ(−t²∇_φf + ∇²_φθf∇_θf), so at a point with ∇_θf = 0 ConOpt reverses exactly
when γt² > 1 and gradnorm always; JARE's is ∇_φf + γ∇²_φθf∇_θf, which never carries t²
(docs/methods.md §2.3).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from gantrain.lazy import torch
from gantrain.rules.tensors import Tensors, dot, grads

if TYPE_CHECKING:
    from gantrain.games.base import Game

KEYS = ("flow_cos_g", "flow_cos_d")


def cosine(a: Tensors, b: Tensors, inner: Callable = dot) -> torch.Tensor:
    """cos∠(a, b) over all tensors of a player (per member with the rule's ``inner`` = its
    ``dot``); NaN when either is zero (no direction)."""
    na, nb = inner(a, a).sqrt(), inner(b, b).sqrt()
    return (inner(a, b) / (na * nb)).detach()


def flow_cosines(u_d: Tensors, u_g: Tensors, plain_d: Tensors, plain_g: Tensors,
                 inner: Callable = dot) -> dict:
    """Args: the rule's directions, the plain gradients of each player, the inner product.
    Returns: {"flow_cos_g": tensor, "flow_cos_d": tensor}."""
    return {"flow_cos_g": cosine(u_g, plain_g, inner), "flow_cos_d": cosine(u_d, plain_d, inner)}


def plain_gradients(rule: Any, game: "Game", losses: tuple[torch.Tensor, torch.Tensor],
                    d_params: Sequence[torch.Tensor],
                    g_params: Sequence[torch.Tensor]) -> tuple[Tensors, Tensors]:
    """(∇_θ L_D, ∇_φ L_G) of the game's own losses (a rule's penalties left out), reduced over
    processes like the rule's own gradients."""
    loss_d, loss_g = losses
    g_d = grads(loss_d, d_params, create_graph=False)
    g_g = grads(loss_g, g_params, create_graph=False)
    out = rule.reduce([*g_d, *g_g])
    return out[:len(g_d)], out[len(g_d):]


def batch_flow_cosines(rule: Any, game: "Game", x: torch.Tensor, z: torch.Tensor,
                       u_d: Tensors, u_g: Tensors) -> dict:
    """The diagnostic for directions taken on the batch (x, z) at the game's current point: one
    more forward and backward pass of the game's plain losses (the rule's calls it at log steps
    only, ``UpdateRule.diagnose``)."""
    d_params, g_params = game.d_params(), game.g_params()
    plain_d, plain_g = plain_gradients(rule, game, game.losses(x, z), d_params, g_params)
    return flow_cosines(u_d, u_g, plain_d, plain_g, rule.dot)
