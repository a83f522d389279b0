"""The optimizers over stacked members: SGD, Adam, RMSprop (torch's update formulas) and
RMSpropTF (``gantrain.optim.rmsprop_tf``), each member with its own learning rate and step count.

A member's state moves to and from the torch optimizer of its single run (``load`` /
``store``), so its checkpoints hold an ordinary ``state_dict`` that a single run resumes from. Only
the ``active`` members move; the others (finished, diverged, or waiting for the ensemble to reach
their resumed step) keep their parameters and state.
"""
from __future__ import annotations

import torch

from gantrain.errors import ConfigError
from gantrain.optim import OPTIMIZERS

Stack = dict[str, torch.Tensor]


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-member vector [N] shaped to broadcast against a stacked tensor [N, ...]."""
    return v.reshape(-1, *[1] * (like.dim() - 1)).to(like.dtype)


class StackedOptimizer:
    """One optimizer config for N members; ``lr`` [N] holds each member's learning rate."""

    # state entries per parameter, by optimizer (SGD's momentum buffer only with momentum)
    SLOTS = {"sgd": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq"),
             "rmsprop": ("square_avg", "momentum_buffer"), "rmsprop_tf": ("square_avg",)}

    def __init__(self, cfg, lrs: list[float], params: Stack):
        if cfg.name not in OPTIMIZERS:
            raise ConfigError(f"optim={cfg.name!r} is invalid; allowed: {', '.join(OPTIMIZERS)}")
        self.cfg, self.name = cfg, cfg.name
        first = next(iter(params.values()))
        self.lr = torch.tensor(lrs, dtype=torch.float64, device=first.device)
        self.n = len(lrs)
        self.steps = torch.zeros(self.n, dtype=torch.float64, device=first.device)
        self.momentum = float(cfg.get("momentum", 0.0))
        slots = [s for s in self.SLOTS[self.name] if s != "momentum_buffer" or self.momentum > 0]
        self.state = {s: {k: self._fresh(s, p) for k, p in params.items()} for s in slots}
        # SGD's momentum buffer starts as the first gradient, not as zeros
        self.started = torch.zeros(self.n, dtype=torch.bool, device=first.device)

    def _fresh(self, slot: str, p: torch.Tensor) -> torch.Tensor:
        if self.name == "rmsprop_tf":
            return torch.full_like(p, float(self.cfg.initial_accumulator))
        return torch.zeros_like(p)

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
            if self.name == "sgd" and self.momentum == 0:
                st["momentum_buffer"] = None
            if self.name in ("adam", "rmsprop"):
                st["step"] = torch.tensor(float(self.steps[i]), dtype=torch.float32)
            opt.state[p] = st

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
        c, lr = self.cfg, _col(self.lr, p)
        if self.name == "sgd":
            if self.momentum == 0:
                return p - lr * g, {}
            buf = slots["momentum_buffer"]
            buf = torch.where(_col(self.started, p).bool(), buf * self.momentum + g, g)
            return p - lr * buf, {"momentum_buffer": buf}
        if self.name == "adam":
            b1, b2 = (float(b) for b in c.betas)
            m = torch.lerp(slots["exp_avg"], g, 1 - b1)
            v = slots["exp_avg_sq"] * b2 + (1 - b2) * g * g
            bc1, bc2 = 1 - b1 ** steps, 1 - b2 ** steps
            step_size = _col(self.lr / bc1, p)
            denom = v.sqrt() / _col(bc2.sqrt(), p) + float(c.eps)
            return p - step_size * (m / denom), {"exp_avg": m, "exp_avg_sq": v}
        if self.name == "rmsprop":
            alpha = float(c.alpha)
            sq = slots["square_avg"] * alpha + (1 - alpha) * g * g
            avg = sq.sqrt() + float(c.eps)
            if self.momentum > 0:
                buf = slots["momentum_buffer"] * self.momentum + g / avg
                return p - lr * buf, {"square_avg": sq, "momentum_buffer": buf}
            return p - lr * (g / avg), {"square_avg": sq}
        decay = float(c.decay)   # rmsprop_tf
        ms = slots["square_avg"] * decay + (1 - decay) * g * g
        return p - lr * (g / (ms + float(c.eps)).sqrt()), {"square_avg": ms}
