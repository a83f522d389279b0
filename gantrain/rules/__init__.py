"""Update rules, one module each, found by name in ``RULES``.

``RULES`` maps ``method=<name>`` to the rule's class: gantrain's own (``BUILTIN``, in the order
figures and reports list them) and those of installed packages registering in the
``gantrain.rules`` entry-point group. Every table about rules elsewhere (second order, colours,
closed forms, options schemas) is read from these classes. A rule's module is imported on first
use, and imports no torch until a rule is built, so config validation stays fast.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, Mapping

from gantrain.registry import Registry

BUILTIN = {
    "simgd": "gantrain.rules.simgd:SimGD",
    "altgd": "gantrain.rules.altgd:AltGD",
    "conopt": "gantrain.rules.conopt:ConOpt",
    "conopt_g": "gantrain.rules.conopt_g:ConOptG",
    "conopt_d": "gantrain.rules.conopt_d:ConOptD",
    "jare": "gantrain.rules.jare:JARE",
    "jare_g": "gantrain.rules.jare_g:JAREG",
    "jare_d": "gantrain.rules.jare_d:JARED",
    "gradnorm": "gantrain.rules.gradnorm:GradNorm",
    "sga": "gantrain.rules.sga:SGA",
    "extragradient": "gantrain.rules.extragradient:Extragradient",
    "optimistic": "gantrain.rules.optimistic:Optimistic",
    "r1": "gantrain.rules.r1:R1",
    "r2": "gantrain.rules.r2:R2",
    "cgd": "gantrain.rules.cgd:CGD",
}
RULES = Registry("method", "gantrain.rules", BUILTIN)
# The plain rule every other is compared with (listed first in reports; step-time ratios to it).
BASELINE = "simgd"


def build_rule(name: str, gamma: Any, options: Mapping[str, Any]):
    """A rule object from its config.

    Args:
        name: ``method.name``.
        gamma: γ (a float, or a tensor of one γ per grid point).
        options: the other ``method.*`` options (``name`` may be included), or the rule's
            checked ``Options`` (``gantrain.config.validate``'s ``method``).
    Returns:
        an ``UpdateRule``.
    Raises:
        ConfigError: an unknown name, an unknown option or a bad value (one line).
    """
    RULES.check(name)
    if is_dataclass(options):
        options = {f.name: getattr(options, f.name) for f in fields(options)}
    return RULES[name](gamma=gamma, **{k: v for k, v in dict(options).items() if k != "name"})


def plain_rule():
    """The plain simultaneous gradient field v (SimGD): the analyses' reference."""
    from gantrain.rules.simgd import SimGD

    return SimGD()


from gantrain.rules.base import Direction, UpdateRule  # noqa: E402
from gantrain.rules.simultaneous import SimultaneousRule  # noqa: E402

__all__ = ["BUILTIN", "RULES", "Direction", "SimultaneousRule", "UpdateRule", "build_rule", "plain_rule"]
