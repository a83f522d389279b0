"""Typed config schemas and the checks that run before any work starts."""
from gantrain.config.schema import ConfigError, validate

__all__ = ["ConfigError", "validate"]
