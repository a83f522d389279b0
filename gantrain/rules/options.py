"""The ``method.*`` options shared by several rules, as dataclasses (torch-free).

A rule's ``Options`` dataclass is its config schema, its defaults and its checks at once: config
validation merges the ``method`` section into it (unknown keys and wrong types fail in one line),
and the rule's constructor builds it from its keyword arguments, so every default is written in
the dataclass alone and every check runs the same way before a run and in code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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
    check(isinstance(value, (int, float)) and not isinstance(value, bool), key, value,
          "must be an integer >= 1")
    check(value >= 1, key, value, "must be >= 1")
    check(int(value) == value, key, value, "must be an integer >= 1")


@dataclass
class MethodOptions:
    """No options besides the rule's name (the ``method.name`` key)."""
    name: str = ""


@dataclass
class EstimateOptions(MethodOptions):
    """``regularizer_estimate``: how a squared-gradient regularizer is estimated from a batch.

    ``same_batch`` squares the batch gradient (biased by Var/(2B)); ``unbiased`` uses two
    independent half-batches; ``variance_corrected`` subtracts the per-sample variance term
    (docs/methods.md §3)."""
    regularizer_estimate: str = "same_batch"
    ESTIMATES: ClassVar[tuple[str, ...]] = ("same_batch", "unbiased", "variance_corrected")

    def __post_init__(self):
        one_of("method.regularizer_estimate", self.regularizer_estimate, self.ESTIMATES)


@dataclass
class SameBatchOptions(MethodOptions):
    """``regularizer_estimate`` accepted for uniformity, ``same_batch`` only; ``why`` says why."""
    regularizer_estimate: str = "same_batch"
    why: ClassVar[str] = "it has no regularizer to estimate"

    def __post_init__(self):
        check(self.regularizer_estimate == "same_batch", "method.regularizer_estimate",
              self.regularizer_estimate, f"method={self.name}: {self.why}; use same_batch")
