"""`optim=rmsprop_tf`: RMSProp as TensorFlow 1's ``tf.train.RMSPropOptimizer`` does it, as in the
papers' released code: the accumulator starts at ``initial_accumulator`` (1.0), not 0 as in
``torch.optim.RMSprop``, and eps sits inside the square root. Both change trajectories."""
from __future__ import annotations

from dataclasses import dataclass

from gantrain.checks import check, follows
from gantrain.lazy import torch
from gantrain.optim.base import Optimizer, check_lr


@dataclass
class RMSpropTFOptions:
    name: str = "rmsprop_tf"
    lr: float = follows("eta", 1e-4)
    decay: float = 0.9
    eps: float = 1e-10
    initial_accumulator: float = 1.0

    def __post_init__(self):
        check_lr(self.lr)
        check(0 < self.decay < 1, "optim.decay", self.decay, "must be in (0, 1)")
        check(self.eps > 0, "optim.eps", self.eps, "must be > 0")
        check(self.initial_accumulator >= 0, "optim.initial_accumulator",
               self.initial_accumulator, "must be >= 0")


class TFRMSprop(Optimizer):
    name = "rmsprop_tf"
    Options = RMSpropTFOptions
    slots = ("square_avg",)

    @classmethod
    def fresh(cls, cfg, p):
        return torch.full_like(p, float(cfg.initial_accumulator))

    @classmethod
    def stacked_update(cls, cfg, p, g, slots, s):
        decay = float(cfg.decay)
        ms = slots["square_avg"].mul_(decay).addcmul_(g, g, value=1 - decay)
        return p.addcdiv_(g * s.lr, (ms + float(cfg.eps)).sqrt_(), value=-1), {"square_avg": ms}
