"""RMSProp as TensorFlow 1's ``tf.train.RMSPropOptimizer`` does it, which the papers' code used
(the torch optimizer of ``optim=rmsprop_tf``, ``gantrain.optim.rmsprop_tf``).

Differences from ``torch.optim.RMSprop`` that change trajectories: the squared-gradient accumulator
starts at 1.0 (not 0), and epsilon sits inside the square root.
"""
from __future__ import annotations

import torch


class RMSpropTF(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-4, decay: float = 0.9, eps: float = 1e-10,
                 initial_accumulator: float = 1.0):
        super().__init__(params, dict(lr=lr, decay=decay, eps=eps,
                                      initial_accumulator=initial_accumulator))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.full_like(p, group["initial_accumulator"])
                ms = state["square_avg"]
                ms.mul_(group["decay"]).addcmul_(p.grad, p.grad, value=1 - group["decay"])
                p.addcdiv_(p.grad, (ms + group["eps"]).sqrt_(), value=-group["lr"])
        return loss
