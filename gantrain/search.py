"""Hyperparameter search with Optuna (hydra-optuna-sweeper, ``gantrain -m hydra/sweeper=optuna``):
each trial is one run, and its value is a named metric of its ``summary.json`` (``search.objective``,
optimized in ``search.direction``). A diverged run is the worst value (+inf when minimizing, -inf
when maximizing), so the search moves away from it; a failed or stopped run returns no value, which
Optuna records as a failed trial while the search goes on. Torch-free (the command line checks
these before torch loads)."""
from __future__ import annotations

import math
from typing import Any

from gantrain.errors import ConfigError

# hydra/sweeper=optuna: gantrain's resumable sweeper (gantrain.sweep.optuna_study); the plugin's
# own class still counts as an Optuna search when a config names it.
OPTUNA_SWEEPER = "hydra_plugins.gantrain_optuna_sweeper.optuna_sweeper.ResumableOptunaSweeper"
OPTUNA_SWEEPERS = (OPTUNA_SWEEPER, "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper")
DIRECTIONS = ("minimize", "maximize")


def check_search(cfg: Any) -> tuple[str, str]:
    """``(objective, direction)`` of the config's ``search`` section, or a one-line ConfigError."""
    search = cfg.get("search") or {}
    objective, direction = search.get("objective"), search.get("direction")
    if not isinstance(objective, str) or not objective:
        raise ConfigError(f"search.objective={objective} is invalid: name a metric of summary.json "
                          "(e.g. dist_equilibrium, modes_covered)")
    if direction not in DIRECTIONS:
        raise ConfigError(f"search.direction={direction} is invalid: allowed: {', '.join(DIRECTIONS)}")
    return objective, direction


def sweeper_overrides(master: Any, overrides: list[str], given: set[str]) -> list[str]:
    """What an Optuna sweep adds to the command line: Optuna's direction is ``search.direction``
    and a failed trial does not end the search (``max_failure_rate=1``). Keys the user set
    (``given``) stay; a ``hydra.sweeper.direction`` that contradicts ``search.direction`` is a
    one-line ConfigError."""
    _, direction = check_search(master)
    extra = []
    if "hydra.sweeper.direction" in given:
        said = str(master.hydra.sweeper.direction).rsplit(".", 1)[-1]
        if said != direction:
            raise ConfigError(f"hydra.sweeper.direction={said} is invalid with search.direction="
                              f"{direction}: set search.direction alone (Optuna follows it)")
    else:
        extra.append(f"hydra.sweeper.direction={direction}")
    if "hydra.sweeper.max_failure_rate" not in given:
        extra.append("hydra.sweeper.max_failure_rate=1.0")
    return extra


def trial_value(cfg: Any, summary: dict | None) -> float | None:
    """The value Optuna gets for a run: its ``search.objective`` metric when it completed, the
    worst value when it diverged, None (a failed trial) otherwise."""
    objective, direction = check_search(cfg)
    status = (summary or {}).get("status")
    if status == "diverged":
        return math.inf if direction == "minimize" else -math.inf
    if status != "completed":
        return None
    value = (summary.get("metrics") or {}).get(objective)
    if not isinstance(value, (int, float)) or math.isnan(value):
        metrics = sorted(k for k, v in (summary.get("metrics") or {}).items()
                         if isinstance(v, (int, float)))
        raise ConfigError(f"search.objective={objective} is invalid: this run's summary has no "
                          f"such metric; its metrics: {', '.join(metrics)}")
    return float(value)
