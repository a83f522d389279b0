"""The optimizers by name (config group ``optim``), gantrain's and installed packages'
(``gantrain.optims`` entry points). Torch-free."""
from __future__ import annotations

from gantrain.registry import Registry

OPTIMS = Registry("optim", "gantrain.optims", {
    "sgd": "gantrain.optim.sgd:SGD",
    "adam": "gantrain.optim.adam:Adam",
    "rmsprop": "gantrain.optim.rmsprop:RMSprop",
    "rmsprop_tf": "gantrain.optim.rmsprop_tf:TFRMSprop",
})
