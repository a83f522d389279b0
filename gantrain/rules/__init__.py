"""Update rules, one module each; importing this package registers them all in ``RULES``."""
from gantrain.rules import (altgd, cgd, conopt, conopt_d, conopt_g, extragradient,  # noqa: F401
                            gradnorm, jare, jare_d, jare_g, optimistic, r1, r2, sga, simgd)
from gantrain.rules.base import RULES, Direction, SimultaneousRule, UpdateRule, build_rule

__all__ = ["RULES", "Direction", "SimultaneousRule", "UpdateRule", "build_rule"]
