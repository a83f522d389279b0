"""Typed config schemas and the checks that run before any work starts."""
from gantrain.config.schema import Checked, validate

__all__ = ["Checked", "validate"]
