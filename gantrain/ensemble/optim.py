"""The optimizers over stacked members, each member with its own learning rate and step count.
Each optimizer's update formula is its class's ``stacked_update`` (``gantrain.optim``: SGD, Adam,
RMSprop as torch computes them, and the TF RMSProp).

A member's state moves to and from the torch optimizer of its single run (``load`` /
``store``), so its checkpoints hold an ordinary ``state_dict`` that a single run resumes from. Only
the ``active`` members move; the others (finished, diverged, or waiting for the ensemble to reach
their resumed step) keep their parameters and state.
"""
from __future__ import annotations

import torch

from gantrain.optim import OPTIMS
from gantrain.optim.base import StackedStep

Stack = dict[str, torch.Tensor]


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-member vector [N] shaped to broadcast against a stacked tensor [N, ...]."""
    return v.reshape(-1, *[1] * (like.dim() - 1)).to(like.dtype)


class StackedOptimizer:
    """One optimizer config for N members; ``lr`` [N] holds each member's learning rate."""

    def __init__(self, cfg, lrs: list[float], params: Stack):
        OPTIMS.check(cfg.name)
        self.cfg, self.rule = cfg, OPTIMS[cfg.name]
        first = next(iter(params.values()))
        self.lr = torch.tensor(lrs, dtype=torch.float64, device=first.device)
        self.n = len(lrs)
        self.steps = torch.zeros(self.n, dtype=torch.float64, device=first.device)
        self.state = {s: {k: self.rule.fresh(cfg, p) for k, p in params.items()}
                      for s in self.rule.used_slots(cfg)}
        # SGD's momentum buffer starts as the first gradient, not as zeros
        self.started = torch.zeros(self.n, dtype=torch.bool, device=first.device)

    # --- the members' own optimizers ---------------------------------------------------------
    def load(self, i: int, opt: torch.optim.Optimizer, params: list[torch.Tensor],
             names: list[str]) -> None:
        """Member ``i``'s state from its torch optimizer (empty before its first step)."""
        for p, k in zip(params, names):
            st = opt.state.get(p, {})
            for slot, stack in self.state.items():
                if st.get(slot) is not None:
                    stack[k][i] = st[slot]
                    self.started[i] = True
            if "step" in st:
                self.steps[i] = float(st["step"])

    def store(self, i: int, opt: torch.optim.Optimizer, params: list[torch.Tensor],
              names: list[str]) -> None:
        """Member ``i``'s state into its torch optimizer, as that optimizer would hold it."""
        for p, k in zip(params, names):
            st = {slot: stack[k][i].clone() for slot, stack in self.state.items()}
            opt.state[p] = self.rule.torch_state(self.cfg, st, float(self.steps[i]))

    # --- one step ----------------------------------------------------------------------------
    def step(self, params: Stack, grads: Stack, active: torch.Tensor) -> Stack:
        """The stepped parameters (a new dict); the state moves for the ``active`` members."""
        steps = torch.where(active, self.steps + 1, self.steps)
        everyone = bool(active.all())   # the common case: no member to hold back
        new_state = {s: {} for s in self.state}
        out = {}
        for k, p in params.items():
            g = grads[k]
            slots = {s: self.state[s][k] for s in self.state}
            q, moved = self._update(p, g, slots, steps)
            mask = _col(active, p).bool()
            out[k] = q if everyone else torch.where(mask, q, p)
            for s, v in moved.items():
                new_state[s][k] = v if everyone else torch.where(mask, v, slots[s])
        self.state, self.steps = new_state, steps
        self.started = self.started | active
        return out

    def _update(self, p, g, slots, steps):
        s = StackedStep(lr=_col(self.lr, p), lrs=self.lr, steps=steps,
                        started=_col(self.started, p).bool(), col=lambda v: _col(v, p))
        return self.rule.stacked_update(self.cfg, p, g, slots, s)
