"""The one-line configuration error and the checks that raise it (a leaf module, so schemas
anywhere in the package can use them without import cycles)."""
from __future__ import annotations

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
