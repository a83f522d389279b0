"""Every config group option's defaults, put in Hydra's ConfigStore from its schema dataclass, so
that each default is written once: in the dataclass.

- ``<group>/<name>``: a registered option's keys and defaults (a rule's ``Options``, a dataset's or
  architecture's schema, an optimizer's, the logger's, the eval protocol's), for every option with
  no yaml of its own in ``conf/<group>/``: every rule, loss and optimizer, the MLP-game
  architectures, the MoG, and every option a plugin registers (a yaml a plugin puts on Hydra's
  search path comes first and replaces it).
- ``schema/<group>/<name>``: the same for an option that also sets other keys (an image dataset's
  optimizer and batch size, an image architecture's batch norm): its yaml holds only those, and
  its defaults list starts with ``/schema/<group>@_here_: <name>`` (``@dataset`` in the
  ``_global_`` dataset options).
- ``sections``: the top-level sections (``engine``, ``ema``, ``analysis``, ...), first in
  ``train.yaml``'s defaults list.

A field whose config value follows another key says so in its metadata, e.g.
``lr: float = follows("eta", 1e-4)`` (``gantrain.rules.options.follows``): code that builds the dataclass
directly gets 1e-4, a composed config the top-level ``eta``.
"""
from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

from gantrain.checks import FOLLOWS
from gantrain.config.schema import GROUPS, SECTIONS
from gantrain.metrics.defaults import ImageEvalSchema

__all__ = ["CONFIG_DIR", "defaults_of", "forget", "option_schemas", "register"]

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")   # shipped in the wheel


def defaults_of(schema: type, name: str | None = None) -> dict[str, Any]:
    """A schema dataclass's config node: every field with a default (or what it follows).

    Args:
        schema: the dataclass.
        name: the option's name, set as ``name`` when the schema has that field.
    Returns:
        a plain dict (lists for tuples), ready for the ConfigStore.
    """
    names = [f.name for f in fields(schema)]
    node: dict[str, Any] = {"name": name} if name is not None and "name" in names else {}
    for f in fields(schema):
        if f.name in node:
            continue
        if FOLLOWS in f.metadata:
            node[f.name] = f.metadata[FOLLOWS]
        elif f.default is not MISSING:
            node[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
        elif f.default_factory is not MISSING:
            node[f.name] = f.default_factory()
    return node


def option_schemas() -> dict[str, dict[str, type]]:
    """Every config group whose options are stored: group → option name → schema dataclass."""
    return {**GROUPS, "eval": {"default": ImageEvalSchema}}


def register(store: ConfigStore | None = None) -> None:
    """Put every option's defaults and the sections' in ``store`` (Hydra's ConfigStore by
    default). Idempotent: a second call stores the same nodes again."""
    store = store or ConfigStore.instance()
    for group, schemas in option_schemas().items():
        for name in schemas:
            # an option with a yaml of its own starts from schema/<group>/<name>; the others are it
            own_yaml = (Path(CONFIG_DIR) / group / f"{name}.yaml").exists()
            store.store(group=f"schema/{group}" if own_yaml else group, name=name,
                        node=defaults_of(schemas[name], name))
    sections = {key: defaults_of(schema) for key, schema in SECTIONS.items() if key != "eval"}
    store.store(name="sections", node=sections, package="_global_")



def forget(group: str, name: str) -> None:
    """Take ``<group>/<name>`` out of the ConfigStore (undoes ``register`` for an entry a test or a
    notebook added in process and then removed from its registry)."""
    ConfigStore.instance().repo.get(group, {}).pop(f"{name}.yaml", None)


register()   # as Hydra apps do at import: whoever composes has imported CONFIG_DIR from here
