"""The one-line configuration error and the checks that raise it (a leaf module, so schemas
anywhere in the package can use them without import cycles)."""
from __future__ import annotations

import math
from typing import Any


class ConfigError(ValueError):
    """A bad configuration value; the message is a single line meant for the user."""


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def _one_of(key: str, value: Any, options) -> None:
    _check(value in options, key, value, "allowed: " + ", ".join(map(str, options)))


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
        _check(math.isfinite(tree), key, tree, "must be a finite number")
    elif isinstance(tree, dict):
        for k, v in tree.items():
            check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            check_finite(v, f"{key}[{i}]")
