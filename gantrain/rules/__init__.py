"""Update rules, one module each; importing this package registers them all in ``RULES``."""
from gantrain.rules import (altgd, conopt, conopt_d, conopt_g, gradnorm, jare, jare_d,  # noqa: F401
                            jare_g, simgd)
from gantrain.rules.base import RULES, Direction, SimultaneousRule, UpdateRule, build_rule

__all__ = ["RULES", "Direction", "SimultaneousRule", "UpdateRule", "build_rule"]
