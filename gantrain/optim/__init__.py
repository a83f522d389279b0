"""Optimizers, by name (config group ``optim``): PyTorch's SGD, Adam and RMSprop, and the released
TensorFlow code's RMSProp. Each is one module and one class (``gantrain.optim.base.Optimizer``);
``OPTIMS`` holds gantrain's and those of installed packages (``gantrain.optims`` entry points).
Torch-free to import: config validation reads the ``Options`` schemas from here."""
from __future__ import annotations

from typing import Iterable

from gantrain.registry import Registry

__all__ = ["OPTIMS", "build_optimizer"]

OPTIMS = Registry("optim", "gantrain.optims", {
    "sgd": "gantrain.optim.sgd:SGD",
    "adam": "gantrain.optim.adam:Adam",
    "rmsprop": "gantrain.optim.rmsprop:RMSprop",
    "rmsprop_tf": "gantrain.optim.rmsprop_tf:TFRMSprop",
})


def build_optimizer(cfg, params: Iterable):
    """The torch optimizer of ``cfg`` (the ``optim`` section) over ``params``.

    Returns:
        a ``torch.optim.Optimizer``.
    """
    OPTIMS.check(cfg.name)
    return OPTIMS[cfg.name].build(cfg, list(params))
