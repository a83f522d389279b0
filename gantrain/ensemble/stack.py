"""N runs of one game as one game whose parameters hold the members along their first dimension.

The update rules run on a ``MemberGame`` with their own code (``UpdateRule.members`` takes their
inner products and norms per member): each member's loss is its own batch mean, the losses are
summed for autograd, and since the members are independent the gradient of the sum, and every
squared-gradient penalty's gradient, is each member's own. A player is ``Stacked``: the member
games' modules with their parameters (and buffers) stacked; an MLP runs its own forward with
batched matrix products, any other architecture through ``torch.func.vmap`` of
``functional_call`` on the first member's module, so every architecture stacks as it is.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from gantrain.games.base import Game
from gantrain.losses import gan_losses


def member_mean(t: torch.Tensor) -> torch.Tensor:
    """Each member's mean over its samples: [N, B, ...] → [N]."""
    return t.flatten(1).mean(1)


class StackedLinear(nn.Module):
    """``nn.Linear`` of N members: weight [N, out, in], bias [N, out]; x [N, ..., in] → one
    batched matrix product (``baddbmm``) per call.

    Args:
        weight, bias: the members' stacked weights and biases (bias may be None).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, out = self.weight.shape[0], self.weight.shape[1]
        flat = x.reshape(n, -1, x.shape[-1])
        if self.bias is None:
            y = torch.bmm(flat, self.weight.transpose(1, 2))
        else:
            y = torch.baddbmm(self.bias.unsqueeze(1), flat, self.weight.transpose(1, 2))
        return y.reshape(*x.shape[:-1], out)


def _linear_only(module: nn.Module) -> bool:
    """Whether every parameter of ``module`` belongs to an ``nn.Linear`` and it has no buffers:
    its own forward then runs on [N, B, ...] with each Linear stacked."""
    owners = [m for m in module.modules() if any(True for _ in m.parameters(recurse=False))]
    return all(type(m) is nn.Linear for m in owners) and not any(True for _ in module.buffers())


class Stacked(nn.Module):
    """One player of N members: their trained parameters and buffers stacked [N, ...].

    A player whose parameters are all ``nn.Linear``'s (the MLPs) runs its own forward with each
    Linear replaced by a ``StackedLinear`` (batched matrix products); any other (batch norm,
    raw parameters) is called through ``torch.func.vmap`` of ``functional_call`` on the first
    member's module.

    Args:
        modules: the members' modules (one architecture).
    """

    def __init__(self, modules: Sequence[nn.Module]):
        super().__init__()
        self.template = [modules[0]]   # a list: not a submodule, its tensors are not ours
        first = modules[0]
        self.names = [n for n, p in first.named_parameters() if p.requires_grad]
        self.buffer_names = [n for n, _ in first.named_buffers()]
        own = [dict(m.named_parameters()) for m in modules]
        stacked = {n: torch.stack([p[n].detach() for p in own]) for n in self.names}
        self.net = None
        if _linear_only(first) and len(self.names) == len(own[0]):
            self.net = copy.deepcopy(first)
            for path, m in list(self.net.named_modules()):
                if type(m) is nn.Linear:
                    pre = f"{path}." if path else ""
                    bias = stacked.get(f"{pre}bias") if m.bias is not None else None
                    self._replace(path, StackedLinear(stacked[f"{pre}weight"], bias))
            params = dict(self.net.named_parameters())
            self.weights = [params[n] for n in self.names]
        else:
            self.weights = nn.ParameterList([nn.Parameter(stacked[n]) for n in self.names])
        bufs = [dict(m.named_buffers()) for m in modules]
        for k, n in enumerate(self.buffer_names):
            self.register_buffer(f"b{k}", torch.stack([b[n] for b in bufs]))
        self._one = vmap(self._member)

    def _replace(self, path: str, module: nn.Module) -> None:
        if not path:
            self.net = module
            return
        *parents, last = path.split(".")
        owner = self.net
        for part in parents:
            owner = getattr(owner, part)
        setattr(owner, last, module)

    def _member(self, tensors: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.template[0], tensors, (x,))

    def buffers_stacked(self) -> list[torch.Tensor]:
        """The stacked buffers, in ``buffer_names``' order."""
        return [getattr(self, f"b{k}") for k in range(len(self.buffer_names))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is not None:
            return self.net(x)
        tensors = dict(zip(self.names, self.weights))
        tensors.update(zip(self.buffer_names, self.buffers_stacked()))
        return self._one(tensors, x)

    def write_member(self, i: int, module: nn.Module) -> None:
        """Member ``i``'s parameters and buffers into its own ``module``."""
        params, bufs = dict(module.named_parameters()), dict(module.named_buffers())
        with torch.no_grad():
            for n, w in zip(self.names, self.weights):
                params[n].copy_(w[i])
            for n, b in zip(self.buffer_names, self.buffers_stacked()):
                bufs[n].copy_(b[i])


class MemberGame(Game):
    """The members' games as one: the players ``Stacked``, each member's batch drawn from its own
    game and generator (none for a member held back), losses and penalty terms per member [N].

    Args:
        games: the members' games (one config but for seed, γ and η).
    """

    sample_dims = 2                          # [N, B, ...]
    batch_mean = staticmethod(member_mean)

    def __init__(self, games: Sequence[Game]):
        first = games[0]
        super().__init__(first.loss, str(first.device), first.dtype)
        self.games = list(games)
        self.generator = Stacked([g.generator for g in games])
        self.discriminator = Stacked([g.discriminator for g in games])
        self._g_params = list(self.generator.weights)
        self._d_params = list(self.discriminator.weights)
        self.active = [True] * len(self.games)   # the members this step moves

    def sample_batch(self, n: int, rng: Sequence[torch.Generator],
                     parts: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Each active member's batch from its own game and generator ``rng[i]``, as its single
        run draws it; zeros for the others (their generators untouched).

        Returns:
            x [N, n, ...], z [N, n, ...].
        """
        drawn = {i: g.sample_batch(n, rng[i], parts)
                 for i, (g, a) in enumerate(zip(self.games, self.active)) if a}
        x0, z0 = next(iter(drawn.values()))
        xs = [drawn[i][0] if i in drawn else torch.zeros_like(x0) for i in range(len(self.games))]
        zs = [drawn[i][1] if i in drawn else torch.zeros_like(z0) for i in range(len(self.games))]
        return torch.stack(xs), torch.stack(zs)

    def halves(self, x, z):
        h = x.shape[1] // 2
        return [(x[:, :h], z[:, :h]), (x[:, h:], z[:, h:])]

    def losses(self, x_real, z, mean=None):
        """(L_D, L_G), one of each per member [N]."""
        d_real = self.discriminator(x_real)
        d_fake = self.discriminator(self.generator(z))
        return gan_losses(self.loss, d_real, d_fake, mean or member_mean)

    def param_norm(self) -> torch.Tensor:
        """Each member's parameter norm [N]."""
        sq = [p.detach().square().flatten(1).sum(1) for p in (*self._g_params, *self._d_params)]
        return torch.sqrt(sum(sq))

    def write_member(self, i: int) -> None:
        """Member ``i``'s stacked parameters and buffers into its own game's modules."""
        self.generator.write_member(i, self.games[i].generator)
        self.discriminator.write_member(i, self.games[i].discriminator)
