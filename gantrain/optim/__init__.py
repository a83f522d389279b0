"""Optimizers, by name (config group ``optim``): PyTorch's SGD, Adam and RMSprop, and the released
TensorFlow code's RMSProp. Each is one module and one class (``gantrain.optim.base.Optimizer``)
whose update formula serves single runs and ensembles alike (``gantrain.optim.stacked``);
``OPTIMS`` holds gantrain's and those of installed packages (``gantrain.optims`` entry points).
Torch-free to import: config validation reads the ``Options`` schemas from here."""
from __future__ import annotations

from typing import Iterable

from gantrain.optim.registry import OPTIMS

__all__ = ["OPTIMS", "build_optimizer"]


def build_optimizer(cfg, params: Iterable):
    """A player's optimizer in a single run.

    Args:
        cfg: the ``optim`` section.
        params: the player's parameters.
    Returns:
        a ``gantrain.optim.stacked.PlayerOptimizer`` (``step`` with the direction in ``p.grad``).
    """
    OPTIMS.check(cfg.name)
    from gantrain.optim.stacked import PlayerOptimizer

    return PlayerOptimizer(cfg, list(params))
