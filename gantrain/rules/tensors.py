"""Lists of tensors, one per parameter: gradients, inner products and norms over a player's
parameters (a leaf of ``gantrain.rules``: the rules and the flow diagnostic both use it)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from gantrain.lazy import torch

if TYPE_CHECKING:
    Tensors = list[torch.Tensor]
else:
    Tensors = list

__all__ = ["Tensors", "dot", "grads", "identity", "mean_of", "member_dot"]


def grads(loss: torch.Tensor, params: Sequence[torch.Tensor], create_graph: bool) -> Tensors:
    """∇ loss w.r.t. params; unreached parameters get zeros, never None.

    Args:
        loss: a scalar, or one loss per member (stacked runs: their sum's gradient is every
            member's own, as the members are independent).
        params: the tensors to differentiate by.
        create_graph: keep the result differentiable (for a second backward pass).
    Returns:
        one gradient per parameter.
    """
    if loss.dim():
        loss = loss.sum()
    out = torch.autograd.grad(loss, params, create_graph=create_graph, retain_graph=True,
                              allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out)]


def identity(tensors: Tensors) -> Tensors:
    """The reduction of one process: the local values are the global ones."""
    return tensors


def dot(a: Tensors, b: Tensors) -> torch.Tensor:
    """⟨a, b⟩ summed over all tensors of two matching lists (a 0-d tensor)."""
    return sum(torch.dot(x.reshape(-1), y.reshape(-1)) for x, y in zip(a, b))


def member_dot(a: Tensors, b: Tensors) -> torch.Tensor:
    """⟨a, b⟩ of each member of two matching lists of stacked tensors [N, ...] (a tensor [N])."""
    return sum((x * y).flatten(1).sum(1) for x, y in zip(a, b))


def mean_of(lists: list[Tensors]) -> Tensors:
    """The elementwise mean of matching tensor lists (the list itself when there is one)."""
    return lists[0] if len(lists) == 1 else [sum(t) / len(lists) for t in zip(*lists)]
