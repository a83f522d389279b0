"""`optim=sgd`: SGD as torch.optim.SGD computes it, with optional momentum."""
from __future__ import annotations

from dataclasses import dataclass

from gantrain.checks import check, follows
from gantrain.lazy import torch
from gantrain.optim.base import Optimizer, check_lr


@dataclass
class SGDOptions:
    name: str = "sgd"
    lr: float = follows("eta", 1e-3)
    momentum: float = 0.0

    def __post_init__(self):
        check_lr(self.lr)
        check(0 <= self.momentum < 1, "optim.momentum", self.momentum, "must be in [0, 1)")


class SGD(Optimizer):
    name = "sgd"
    Options = SGDOptions
    slots = ("momentum_buffer",)

    @classmethod
    def used_slots(cls, cfg):
        return cls.slots if float(cfg.momentum) > 0 else ()

    @classmethod
    def stacked_update(cls, cfg, p, g, slots, s):
        momentum = float(cfg.momentum)
        if momentum == 0:
            return p.addcmul_(g, s.lr, value=-1), {}
        # torch's buffer starts as the first gradient, not as zeros
        buf = torch.where(s.started, slots["momentum_buffer"].mul_(momentum).add_(g), g)
        return p.addcmul_(buf, s.lr, value=-1), {"momentum_buffer": buf}

    @classmethod
    def torch_state(cls, cfg, state, step):
        if float(cfg.momentum) == 0:
            state["momentum_buffer"] = None
        return state
