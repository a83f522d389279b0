"""Every use of Hydra's private API in gantrain, in one place.

Written for hydra-core 1.3.8 (the version pinned in constraints.txt). ``gantrain`` and
``gantrain-analyze`` compose the command line before ``hydra.main`` does, to answer bad input in
one line (see ``gantrain.cli.check_command_line``). That needs four things Hydra keeps private:
its command-line parser, a ``Hydra`` object with ``hydra.main``'s config search path, its config
repository (is a key a config group?) and the BasicSweeper's expansion of a sweep into jobs.
Nothing else in gantrain imports ``hydra._internal``.

When hydra-core moves past ``HYDRA_VERSION``, tests/test_hydra_private.py fails: re-check each
symbol in ``PRIVATE_SYMBOLS`` and ``ARG_FIELDS`` against the new release (signatures included),
run tests/test_cli.py and tests/config/test_bad_input.py, then update ``HYDRA_VERSION`` and
constraints.txt.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from hydra.types import RunMode
from omegaconf import DictConfig

HYDRA_VERSION = "1.3.8"

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"

# (module, attribute path) of every private symbol used below.
PRIVATE_SYMBOLS = (
    ("hydra._internal.utils", "get_args_parser"),
    ("hydra._internal.utils", "create_config_search_path"),
    ("hydra._internal.config_loader_impl", "ConfigLoaderImpl"),
    ("hydra._internal.config_repository", "ConfigRepository.group_exists"),
    ("hydra._internal.hydra", "Hydra"),
    ("hydra._internal.hydra", "Hydra.compose_config"),
    ("hydra._internal.hydra", "Hydra.get_mode"),
    ("hydra._internal.core_plugins.basic_sweeper", "BasicSweeper.split_arguments"),
)
# The fields of get_args_parser()'s namespace that gantrain.cli reads.
ARG_FIELDS = ("run", "cfg", "multirun", "shell_completion", "info", "help", "hydra_help",
              "experimental_rerun", "config_path", "config_dir", "config_name", "overrides")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Hydra's own reading of a command line.

    Args:
        argv: the arguments after the program name.

    Returns:
        The namespace of ``hydra.main``'s argument parser (its fields: ``ARG_FIELDS``). A usage
        error or ``--version`` raises SystemExit, as in Hydra.
    """
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(argv)


class Composer:
    """A Hydra object with ``hydra.main``'s config search path (not registered as the global one),
    and the calls gantrain makes on it.

    Args:
        primary_dir: the application's config directory (``hydra.main``'s ``config_path``).
        config_dir: an existing directory searched before the application's (``--config-dir``),
            or None.
        task_name: the job name Hydra would use.
    """

    def __init__(self, primary_dir: str, config_dir: str | None, task_name: str):
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra._internal.hydra import Hydra
        from hydra._internal.utils import create_config_search_path
        from hydra.core.config_search_path import SearchPathQuery

        search_path = create_config_search_path(primary_dir)
        if config_dir is not None:
            search_path.prepend(provider="command-line", path=f"file://{os.path.abspath(config_dir)}",
                                anchor=SearchPathQuery(provider="schema"))
        self._hydra = Hydra(task_name=task_name,
                            config_loader=ConfigLoaderImpl(config_search_path=search_path))

    def compose(self, name: str, overrides: list[str], mode: RunMode,
                validate_sweep_overrides: bool = True) -> DictConfig:
        """The config ``name`` with ``overrides``, as Hydra composes it in ``mode`` (raises
        HydraException)."""
        return self._hydra.compose_config(name, overrides, run_mode=mode,
                                          validate_sweep_overrides=validate_sweep_overrides)

    def mode(self, name: str, overrides: list[str]) -> RunMode | None:
        """RUN or MULTIRUN, as the config and the overrides set ``hydra.mode`` (None: unset)."""
        return self._hydra.get_mode(config_name=name, overrides=overrides)

    def parse_overrides(self, overrides: list[str]) -> list[Any]:
        """The overrides parsed by Hydra, sweeps over config groups included (raises
        HydraException)."""
        from hydra.core.override_parser.overrides_parser import OverridesParser

        return OverridesParser.create(config_loader=self._hydra.config_loader).parse_overrides(
            overrides)

    def is_group(self, key: str) -> bool:
        """Whether ``key`` names a config group (e.g. ``method``), not a value."""
        return self._hydra.config_loader.repository.group_exists(key)


def basic_sweep_jobs(parsed: list[Any]) -> list[list[str]]:
    """The jobs Hydra's BasicSweeper makes of parsed sweep overrides, each as its list of
    ``key=value`` overrides (every job in one batch)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper.split_arguments(parsed, None)[0]
