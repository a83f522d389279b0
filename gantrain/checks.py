"""The value checks of every config schema, each failing with one line (a leaf module: it imports
only ``gantrain.errors``, so schemas anywhere may use it without import cycles)."""
from __future__ import annotations

import math
from dataclasses import field
from typing import Any

from gantrain.errors import ConfigError


def holds(condition: Any) -> bool:
    """``condition`` as one bool: a tensor condition (a grid of values) holds where all hold."""
    return bool(condition.all()) if hasattr(condition, "all") else bool(condition)


def check(ok: Any, key: str, value: Any, allowed: str) -> None:
    """Raise a one-line ConfigError ``<key>=<value> is invalid: <allowed>`` unless ``ok`` holds.

    Args:
        ok: the condition (a bool, or a tensor that must hold everywhere).
        key: the config key, e.g. ``method.cg_iters``.
        value: the value given.
        allowed: what is allowed instead.
    """
    if not holds(ok):
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def one_of(key: str, value: Any, options) -> None:
    """Raise a one-line ConfigError unless ``value`` is one of ``options``."""
    check(value in options, key, value, "allowed: " + ", ".join(map(str, options)))


def positive_int(key: str, value: Any) -> None:
    """Refuse anything but an integer >= 1 (an integral float counts: 2.0)."""
    check(isinstance(value, (int, float)) and not isinstance(value, bool) and int(value) == value
          and value >= 1, key, value, "must be an integer >= 1")


def check_finite(tree: Any, key: str = "") -> None:
    """Refuse NaN and ±inf anywhere in a plain config tree (dicts, lists, numbers): every float
    key, including ones added later, without a list of keys to keep up to date. Hydra reads
    ``inf``, ``nan`` and an overflowing ``1e400`` on the command line as floats, and range checks
    such as ``x > 0`` let +inf through (and NaN compares false, with a misleading message)."""
    if isinstance(tree, float):
        check(math.isfinite(tree), key, tree, "must be a finite number")
    elif isinstance(tree, dict):
        for k, v in tree.items():
            check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            check_finite(v, f"{key}[{i}]")


def required(section: Any, key: str, prefix: str) -> Any:
    """``section[key]``, whose default is written in one place only (the yaml that composes the
    section, e.g. analyze.yaml's ``phase:``); one line when an override removed it.

    Args:
        section: a mapping (DictConfig or dict).
        key: the key.
        prefix: the section's dotted name, for the message (``phase``, ``phase.neural``).
    Returns:
        the value.
    """
    if key not in section:
        raise ConfigError(f"{prefix}.{key} is missing: it has no default besides "
                          f"conf/analyze.yaml's; set it (e.g. +{prefix}.{key}=...)")
    return section[key]


FOLLOWS = "config"   # field metadata: the value a composed config gives the field (gantrain.config.store)


def follows(key: str, default):
    """A dataclass field whose value in a composed config is ``${key}``.

    Args:
        key: the config key it follows (e.g. ``eta``).
        default: its value when code builds the dataclass directly.
    Returns:
        the ``dataclasses.field``.
    """
    return field(default=default, metadata={FOLLOWS: "${" + key + "}"})
