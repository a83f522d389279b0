"""`optim=rmsprop`: RMSprop as torch.optim.RMSprop computes it (the accumulator starts at 0, eps
outside the square root)."""
from __future__ import annotations

from dataclasses import dataclass

from gantrain.checks import check, follows
from gantrain.optim.base import Optimizer, check_lr


@dataclass
class RMSpropOptions:
    name: str = "rmsprop"
    lr: float = follows("eta", 1e-4)
    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0

    def __post_init__(self):
        check_lr(self.lr)
        check(0 < self.alpha < 1, "optim.alpha", self.alpha, "must be in (0, 1)")
        check(self.eps > 0, "optim.eps", self.eps, "must be > 0")
        check(0 <= self.momentum < 1, "optim.momentum", self.momentum, "must be in [0, 1)")


class RMSprop(Optimizer):
    name = "rmsprop"
    Options = RMSpropOptions
    slots = ("square_avg", "momentum_buffer")
    counts_steps = True

    @classmethod
    def used_slots(cls, cfg):
        return cls.slots if float(cfg.momentum) > 0 else ("square_avg",)

    @classmethod
    def stacked_update(cls, cfg, p, g, slots, s):
        alpha, momentum = float(cfg.alpha), float(cfg.momentum)
        sq = slots["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
        avg = sq.sqrt().add_(float(cfg.eps))
        if momentum > 0:
            buf = slots["momentum_buffer"].mul_(momentum).addcdiv_(g, avg)
            return p.addcmul_(buf, s.lr, value=-1), {"square_avg": sq, "momentum_buffer": buf}
        return p.addcdiv_(g * s.lr, avg, value=-1), {"square_avg": sq}
