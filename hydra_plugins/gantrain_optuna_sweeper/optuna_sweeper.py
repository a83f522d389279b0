"""The Hydra side of ``hydra/sweeper=optuna`` in gantrain: the plugin class Hydra discovers in the
``hydra_plugins`` namespace, and its config node, stored as ``hydra/sweeper=optuna`` in place of
hydra-optuna-sweeper's own: the same settings, run by ``gantrain.sweep.optuna_study`` (a study
kept in the sweep directory, resumed by a rerun).

Hydra's plugin scan executes every ``hydra_plugins`` module again, in path order, so the plugin's
config module may store its node after this one at import. The node is therefore stored again
by ``StoreAfterScan``, a search path plugin that adds no path: Hydra calls it after the scan,
each time it builds a config search path, before any config is loaded."""

from dataclasses import dataclass
from typing import Any

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper


@dataclass
class ResumableOptunaSweeperConf(OptunaSweeperConf):
    _target_: str = "hydra_plugins.gantrain_optuna_sweeper.optuna_sweeper.ResumableOptunaSweeper"


def store() -> None:
    """Store ``hydra/sweeper=optuna`` as gantrain's resumable sweeper."""
    ConfigStore.instance().store(group="hydra/sweeper", name="optuna",
                                 node=ResumableOptunaSweeperConf, provider="gantrain")


class StoreAfterScan(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        store()


class ResumableOptunaSweeper(OptunaSweeper):
    """hydra-optuna-sweeper's OptunaSweeper with gantrain's resumable ``sweep``."""

    def __init__(self, **kwargs: Any) -> None:
        from gantrain.sweep.optuna_study import ResumableOptunaSweeperImpl

        self.sweeper = ResumableOptunaSweeperImpl(**kwargs)


store()
