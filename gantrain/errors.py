"""The one-line configuration error and the checks that raise it (a leaf module, so schemas
anywhere in the package can use them without import cycles)."""
from __future__ import annotations

import math
from typing import Any


class ConfigError(ValueError):
    """A bad configuration value; the message is a single line meant for the user."""


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ConfigError ``<key>=<value> is invalid: <allowed>`` unless ``ok``.

    Args:
        ok: whether the value is acceptable.
        key: the config key, e.g. ``eval.splits``.
        value: the value given.
        allowed: what is allowed, e.g. ``must be >= 1``.
    """
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def one_of(key: str, value: Any, options) -> None:
    """Raise ConfigError naming the allowed ``options`` unless ``value`` is one of them."""
    require(value in options, key, value, "allowed: " + ", ".join(map(str, options)))


_check, _one_of = require, one_of   # the old names, for the modules not yet switched


def first_line(e: BaseException) -> str:
    """The first line of an error's message (its type name when the message is empty)."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def check_finite(tree: Any, key: str = "") -> None:
    """Refuse NaN and ±inf anywhere in a plain config tree (dicts, lists, numbers): every float
    key, including ones added later, without a list of keys to keep up to date. Hydra reads
    ``inf``, ``nan`` and an overflowing ``1e400`` on the command line as floats, and range checks
    such as ``x > 0`` let +inf through (and NaN compares false, with a misleading message)."""
    if isinstance(tree, float):
        require(math.isfinite(tree), key, tree, "must be a finite number")
    elif isinstance(tree, dict):
        for k, v in tree.items():
            check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            check_finite(v, f"{key}[{i}]")
