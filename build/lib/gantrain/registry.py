"""Named plugins: update rules, losses, datasets and architectures, all found the same way.

A :class:`Registry` maps a config name to an object: gantrain's built-ins, listed as
``"module:attribute"`` strings beside the things they name, and every installed package's entry
points in the registry's group (``gantrain.rules``, ``gantrain.losses``, ...). A name's module is
imported on first use only, so listing the names (config validation, ``--help``) imports nothing.

Example, in a plugin's ``pyproject.toml``::

    [project.entry-points."gantrain.rules"]
    scaled_simgd = "my_rules.scaled:ScaledSimGD"
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, Callable

from gantrain.errors import ConfigError


def load(target: str) -> Any:
    """The object a ``"module:attribute"`` string names (imported now).

    Args:
        target: e.g. ``"gantrain.rules.simgd:SimGD"``.
    Returns:
        the attribute.
    """
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


class Registry(Mapping):
    """Name → object, loaded on first use.

    Args:
        key: the config key that picks a name (``method``, ``loss``, ...), for error messages.
        group: the entry-point group third-party packages register in.
        builtins: gantrain's own entries, name → ``"module:attribute"``, in display order.
    """

    def __init__(self, key: str, group: str, builtins: dict[str, str]):
        self.key, self.group = key, group
        self._targets: dict[str, Any] = dict(builtins)
        self._loaded: dict[str, Any] = {}
        self._plugins_read = False

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            self._targets.setdefault(ep.name, ep)   # a built-in name is never replaced

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self._targets:   # a built-in needs no scan of the installed packages
                self._read_plugins()
            target = self._targets[name]   # KeyError for an unknown name (Mapping semantics)
            if isinstance(target, str):
                obj = load(target)
            else:
                obj = target.load()
            if getattr(obj, "name", name) != name:
                raise ConfigError(f"{self.key}={name!r} is registered as {target!r}, whose name is "
                                  f"{obj.name!r}: the two must agree")
            self._loaded[name] = obj
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        self._read_plugins()
        return iter(list(self._targets))

    def __len__(self) -> int:
        self._read_plugins()
        return len(self._targets)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self._targets:
            return True
        self._read_plugins()
        return name in self._targets

    def add(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name`` in this process (tests, notebooks); usable as a
        decorator when ``obj`` is omitted. Returns ``obj``."""
        if obj is None:
            return lambda o: self.add(name, o)
        self._targets[name] = obj
        self._loaded[name] = obj
        return obj

    def remove(self, name: str) -> None:
        """Forget ``name`` (undoes :meth:`add`)."""
        self._targets.pop(name, None)
        self._loaded.pop(name, None)

    def check(self, name: Any, key: str | None = None) -> None:
        """Raise a one-line ConfigError unless ``name`` is registered.

        Args:
            name: the configured name.
            key: the config key to name in the message (default: the registry's).
        """
        if name not in self:
            raise ConfigError(f"{key or self.key}={name!r} is invalid: allowed: {', '.join(self)}")

    def derived(self, fn: Callable[[Any], Any]) -> "Derived":
        """A mapping name → ``fn(object)``, computed on first use (e.g. a rule's options schema).

        Args:
            fn: what to read from each registered object.
        Returns:
            a read-only mapping over the same names.
        """
        return Derived(self, fn)

    def where(self, test: Callable[[Any], bool]) -> tuple[str, ...]:
        """The names whose object passes ``test`` (loads every entry).

        Returns:
            a tuple of names in registry order.
        """
        return tuple(n for n in self if test(self[n]))


class Derived(Mapping):
    """``fn`` of each entry of a :class:`Registry`, by name (see :meth:`Registry.derived`)."""

    def __init__(self, registry: Registry, fn: Callable[[Any], Any]):
        self.registry, self.fn = registry, fn

    def __getitem__(self, name: str) -> Any:
        return self.fn(self.registry[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry)

    def __len__(self) -> int:
        return len(self.registry)

    def __contains__(self, name: object) -> bool:
        return name in self.registry
