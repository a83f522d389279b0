"""`optim=adam`: Adam as torch.optim.Adam computes it."""
from __future__ import annotations

from dataclasses import dataclass, field

from gantrain.checks import check, follows
from gantrain.optim.base import Optimizer, check_lr


@dataclass
class AdamOptions:
    name: str = "adam"
    lr: float = follows("eta", 1e-4)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8

    def __post_init__(self):
        check_lr(self.lr)
        check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "optim.betas",
               self.betas, "must be two numbers in [0, 1)")
        check(self.eps > 0, "optim.eps", self.eps, "must be > 0")


class Adam(Optimizer):
    name = "adam"
    Options = AdamOptions
    slots = ("exp_avg", "exp_avg_sq")
    counts_steps = True

    @classmethod
    def stacked_update(cls, cfg, p, g, slots, s):
        b1, b2 = (float(b) for b in cfg.betas)
        m = slots["exp_avg"].lerp_(g, 1 - b1)
        v = slots["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
        bc1, bc2 = 1 - b1 ** s.steps, 1 - b2 ** s.steps
        denom = (v.sqrt() / s.col(bc2.sqrt())).add_(float(cfg.eps))
        return p.addcdiv_(m * s.col(s.lrs / bc1), denom, value=-1), {"exp_avg": m, "exp_avg_sq": v}
