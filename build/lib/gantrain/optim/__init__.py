"""Optimizers: PyTorch's SGD/Adam/RMSprop and the released TensorFlow code's RMSProp."""
from __future__ import annotations

from typing import Iterable

import torch

from gantrain.optim.rmsprop_tf import RMSpropTF

OPTIMIZERS = ("sgd", "adam", "rmsprop", "rmsprop_tf")


def build_optimizer(cfg, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    params = list(params)
    name = cfg.name
    if name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps,
                                   momentum=cfg.momentum)
    if name == "rmsprop_tf":
        return RMSpropTF(params, lr=cfg.lr, decay=cfg.decay, eps=cfg.eps,
                         initial_accumulator=cfg.initial_accumulator)
    raise ValueError(f"optim={name!r} is not known; allowed: {', '.join(OPTIMIZERS)}")
