"""Typed config schemas and the checks that run before any work starts."""
from gantrain.config.schema import validate

__all__ = ["validate"]
