"""The one-line configuration error (a leaf module: the checks in ``gantrain.checks`` and every
schema raise it without import cycles)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A bad configuration value; the message is a single line meant for the user."""


def first_line(e: BaseException) -> str:
    """The first line of an error's message (its type name when the message is empty)."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
