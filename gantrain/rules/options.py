"""The ``method.*`` options shared by several rules, as dataclasses (torch-free).

A rule's ``Options`` dataclass is its config schema, its defaults and its checks at once: config
validation merges the ``method`` section into it (unknown keys and wrong types fail in one line),
and the rule's constructor builds it from its keyword arguments, so every default is written in
the dataclass alone and every check runs the same way before a run and in code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gantrain.checks import FOLLOWS, check, follows, holds, one_of, positive_int

__all__ = ["FOLLOWS", "EstimateOptions", "MethodOptions", "SameBatchOptions", "check", "follows",
           "holds", "one_of", "positive_int"]   # re-exported for rules and plugins


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
