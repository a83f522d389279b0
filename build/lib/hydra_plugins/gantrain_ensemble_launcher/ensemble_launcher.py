"""The Hydra side of ``launcher=ensemble``: the plugin class Hydra discovers in the
``hydra_plugins`` namespace, and its config node ``hydra/launcher=ensemble``."""

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class EnsembleLauncherConf:
    _target_: str = "hydra_plugins.gantrain_ensemble_launcher.ensemble_launcher.EnsembleLauncher"
    size: int = 16   # members per ensemble (jobs differing only in seed, gamma, eta, optim.lr)


ConfigStore.instance().store(group="hydra/launcher", name="ensemble", node=EnsembleLauncherConf,
                             provider="gantrain")


class EnsembleLauncher(Launcher):
    def __init__(self, size: int = 16, **kwargs: Any) -> None:
        self.size = size
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        from gantrain.ensemble.launcher import launch

        return launch(self, job_overrides, initial_job_idx, self.size)
