"""The one optimizer update: each optimizer's formula (``Optimizer.stacked_update``) applied to
parameters stacked along a leading member dimension, each member with its own learning rate and
step count.

The ensemble steps N members with ``StackedOptimizer`` directly; a single run's player is the case
N = 1 (``PlayerOptimizer``: the interface the rules and checkpoints use, the direction in
``p.grad``). Nothing else computes an optimizer step, so a single run and an ensemble member take
the same update. A member's state moves to and from torch's ``state_dict`` format
(``member_state`` / ``load_member``), so checkpoints written before this module, by
``torch.optim``, resume.
"""
from __future__ import annotations

from typing import Sequence

from gantrain.lazy import torch
from gantrain.optim.base import StackedStep
from gantrain.optim.registry import OPTIMS

Stack = dict  # name -> tensor [N, ...]


def _col(v, like):
    """A per-member vector [N] shaped to broadcast against a stacked tensor [N, ...]."""
    return v.reshape(-1, *[1] * (like.dim() - 1)).to(like.dtype)


class StackedOptimizer:
    """One optimizer config for N members; ``lr`` [N] holds each member's learning rate.

    Args:
        cfg: the ``optim`` section.
        lrs: each member's learning rate.
        params: the stacked parameters by name (their shapes and devices).
    """

    def __init__(self, cfg, lrs: Sequence[float], params: Stack):
        OPTIMS.check(cfg.name)
        self.cfg, self.rule = cfg, OPTIMS[cfg.name]
        first = next(iter(params.values()))
        self.lr = torch.tensor(list(lrs), dtype=torch.float64, device=first.device)
        self.n = len(lrs)
        self.steps = torch.zeros(self.n, dtype=torch.float64, device=first.device)
        self.state = {s: {k: self.rule.fresh(cfg, p) for k, p in params.items()}
                      for s in self.rule.used_slots(cfg)}
        # SGD's momentum buffer starts as the first gradient, not as zeros
        self.started = torch.zeros(self.n, dtype=torch.bool, device=first.device)

    # --- a member's state in torch's format ----------------------------------------------------
    def load_member(self, i: int, states: Sequence[dict], names: Sequence[str]) -> None:
        """Member ``i``'s state from torch-format per-parameter states (empty before a first step).

        Args:
            i: the member.
            states: one dict per parameter (slot name → tensor, and ``step``), in ``names``' order.
            names: the parameters' names.
        """
        for st, k in zip(states, names):
            for slot, stack in self.state.items():
                if st.get(slot) is not None:
                    stack[k][i] = st[slot]
                    self.started[i] = True
            if "step" in st:
                self.steps[i] = float(st["step"])

    def member_state(self, i: int, names: Sequence[str]) -> list[dict]:
        """Member ``i``'s per-parameter states as torch's optimizer holds them ({} before a step)."""
        if not bool(self.started[i]) and float(self.steps[i]) == 0:
            return [{} for _ in names]
        return [self.rule.torch_state(self.cfg, {slot: stack[k][i].clone()
                                                 for slot, stack in self.state.items()},
                                      float(self.steps[i])) for k in names]

    # --- one step ------------------------------------------------------------------------------
    def step(self, params: Stack, grads: Stack, active) -> Stack:
        """The stepped parameters (a new dict); the state moves for the ``active`` members.

        Args:
            params, grads: stacked tensors by name.
            active: a bool tensor [N].
        Returns:
            the new parameters by name.
        """
        steps = torch.where(active, self.steps + 1, self.steps)
        everyone = bool(active.all())   # the common case: no member to hold back
        new_state = {s: {} for s in self.state}
        out = {}
        for k, p in params.items():
            slots = {s: self.state[s][k] for s in self.state}
            st = StackedStep(lr=_col(self.lr, p), lrs=self.lr, steps=steps,
                             started=_col(self.started, p).bool(), col=lambda v, p=p: _col(v, p))
            q, moved = self.rule.stacked_update(self.cfg, p, grads[k], slots, st)
            mask = _col(active, p).bool()
            out[k] = q if everyone else torch.where(mask, q, p)
            for s, v in moved.items():
                new_state[s][k] = v if everyone else torch.where(mask, v, slots[s])
        self.state, self.steps = new_state, steps
        self.started = self.started | active
        return out


class PlayerOptimizer:
    """A player's optimizer: ``StackedOptimizer`` stepping the player's own parameters in place
    with the direction the rule left in ``p.grad``. A single run is one member; a batched game
    (the phase diagrams' grid) holds its points along its parameters' first dimension and gives
    each its step size in ``lrs``.

    Args:
        cfg: the ``optim`` section.
        params: the player's parameters.
        lrs: each point's step size when the parameters hold points along their first dimension;
            None: one run at ``cfg.lr``.
    """

    def __init__(self, cfg, params: Sequence, lrs=None):
        self.params = list(params)
        self.names = [str(i) for i in range(len(self.params))]
        self.batched = lrs is not None
        lrs = [float(cfg.lr)] if lrs is None else [float(v) for v in lrs]
        self.core = StackedOptimizer(cfg, lrs, self._stacked(self.params))
        self._all = torch.ones(len(lrs), dtype=torch.bool, device=self.core.lr.device)

    def _stacked(self, tensors) -> Stack:
        return {k: t.detach() if self.batched else t.detach().unsqueeze(0)
                for k, t in zip(self.names, tensors)}

    @property
    def lr(self) -> float:
        """The step size (the first point's, in a batched game)."""
        return float(self.core.lr[0])

    def step(self) -> None:
        """One update of every parameter with its ``p.grad`` (zero where it has none)."""
        with torch.no_grad():
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.params]
            new = self.core.step(self._stacked(self.params), self._stacked(grads), self._all)
            for p, k in zip(self.params, self.names):
                p.copy_(new[k] if self.batched else new[k][0])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients."""
        for p in self.params:
            p.grad = None

    def states(self) -> list[dict]:
        """Each parameter's state as torch's optimizer holds it ({} before the first step)."""
        return self.core.member_state(0, self.names)

    def load_states(self, states: Sequence[dict]) -> None:
        """Set each parameter's state from ``states`` (``states()``'s format)."""
        self.core.load_member(0, states, self.names)

    def state_dict(self) -> dict:
        """The state in ``torch.optim.Optimizer.state_dict``'s format."""
        states = self.states()
        return {"state": {i: st for i, st in enumerate(states) if st},
                "param_groups": [{"lr": self.lr, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict`` (this class's, or a ``torch.optim`` optimizer's of the same
        kind, as checkpoints written before gantrain stepped its own optimizers hold)."""
        saved = state["state"]
        self.load_states([saved.get(i, {}) for i in range(len(self.params))])
