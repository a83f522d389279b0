"""Which numeric precisions a run may ask for, checked before any work (torch-free).

Second-order rules (a rule class's ``second_order``: ConOpt, JARE and their one-sided variants,
gradnorm, SGA, R1/R2, CGD) differentiate through gradients; their second pass is not safe in
reduced precision, so mixed precision is refused for them.
"""
from __future__ import annotations

from gantrain.errors import ConfigError

AMP = ("none", "bf16")


def check_engine(cfg) -> None:
    """Refuse an unknown ``engine.amp`` and mixed precision for a second-order rule.

    Args:
        cfg: the composed run config.
    Raises:
        ConfigError: one line naming the key and what is allowed.
    """
    from gantrain.rules import RULES

    amp = cfg.engine.amp
    if amp not in AMP:
        raise ConfigError(f"engine.amp={amp!r} is invalid: allowed: {', '.join(AMP)} "
                          "(fp16 would need loss scaling through the second backward pass)")
    rule = RULES.get(cfg.method.name)
    if amp != "none" and rule is not None and rule.second_order:
        raise ConfigError(f"engine.amp={amp} is invalid with method={cfg.method.name}: its double "
                          "backprop runs in float32; use engine.amp=none")
