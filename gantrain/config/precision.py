"""Which numeric precisions a run may ask for, checked before any work (torch-free).

Double-backprop rules (ConOpt, JARE and their one-sided variants, gradnorm, SGA, R1/R2, CGD)
differentiate through gradients; their second pass is not safe in reduced precision, so mixed
precision is refused for them.
"""
from __future__ import annotations

from gantrain.errors import ConfigError

AMP = ("none", "bf16")
DOUBLE_BACKPROP = ("conopt", "jare", "conopt_g", "conopt_d", "jare_g", "jare_d", "gradnorm",
                   "sga", "r1", "r2", "cgd")


def check_engine(cfg) -> None:
    """Refuse an unknown ``engine.amp`` and mixed precision for a double-backprop rule.

    Args:
        cfg: the composed run config.
    """
    amp = cfg.engine.amp
    if amp not in AMP:
        raise ConfigError(f"engine.amp={amp!r} is invalid: allowed: {', '.join(AMP)} "
                          "(fp16 would need loss scaling through the second backward pass)")
    if amp != "none" and cfg.method.name in DOUBLE_BACKPROP:
        raise ConfigError(f"engine.amp={amp} is invalid with method={cfg.method.name}: its double "
                          "backprop runs in float32; use engine.amp=none")
