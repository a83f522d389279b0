"""``torch``, imported on first use.

A rule's facts (its options schema, second order or not, colour, ...) are read by config
validation, which answers before torch loads (``import torch`` alone takes seconds). The rule
modules therefore write ``from gantrain.lazy import torch``: the name behaves as the torch
module, and the real import happens at the first attribute read, when a rule is built or run.
A plugin rule may do the same to keep ``gantrain method=<plugin> <bad value>`` instant.
"""
from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A module imported on first attribute access, after which its attributes are copied in
    (later reads cost no more than a module's).

    Args:
        name: the module's import name.
    """

    def __init__(self, name: str):
        self.__dict__["_lazy_name"] = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__dict__["_lazy_name"])
        self.__dict__.update(vars(module))
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_name']!r}>"


torch = LazyModule("torch")
