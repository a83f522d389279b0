"""What every optimizer states: its options schema and its one update formula over stacked members
(``gantrain.optim.stacked``: a single run is one member, an ensemble N).

An optimizer is one module and one class, registered in ``gantrain.optim.OPTIMS`` (a plugin: the
``gantrain.optims`` entry-point group). Its ``Options`` dataclass is its config (defaults and
checks, torch-free); ``stacked_update`` uses torch through ``gantrain.lazy``, so config
validation never imports it. Its state entries are named as torch's optimizer of the same kind
names them, so checkpoints keep torch's ``state_dict`` format.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from gantrain.checks import check
from gantrain.lazy import torch


def check_lr(lr: float) -> None:
    """The step size is positive (``optim.lr`` follows the top-level ``eta``)."""
    check(lr > 0, "optim.lr (eta)", lr, "must be > 0")


@dataclass
class StackedStep:
    """What an update over N stacked members needs besides a parameter, its gradient and its state.

    Args:
        lr: each member's learning rate, shaped to broadcast against the parameter.
        lrs: the same as a vector [N] (float64).
        steps: each member's step count [N] after this step (float64).
        started: whether each member has stepped before, broadcastable (bool).
        col: a vector [N] shaped to broadcast against the parameter.
    """
    lr: Any
    lrs: Any
    steps: Any
    started: Any
    col: Callable[[Any], Any]


class Optimizer:
    """An optimizer's facts. Subclasses set ``name``, ``Options`` and ``slots``, and implement
    ``stacked_update``."""
    name: ClassVar[str]
    Options: ClassVar[type]
    slots: ClassVar[tuple[str, ...]] = ()   # torch's per-parameter state entries it keeps
    counts_steps: ClassVar[bool] = False    # torch also keeps a per-parameter "step"

    @classmethod
    def used_slots(cls, cfg) -> tuple[str, ...]:
        """The state entries a run with ``cfg`` keeps (e.g. no momentum buffer without momentum)."""
        return cls.slots

    @classmethod
    def fresh(cls, cfg, p):
        """A state entry before the first step."""
        return torch.zeros_like(p)

    @classmethod
    def stacked_update(cls, cfg, p, g, slots: dict, s: StackedStep) -> tuple[Any, dict]:
        """One step of N stacked members (the update formula, as torch computes it). ``p`` and the
        state entries belong to the optimizer (a flat copy and its own state): the update may
        write them in place.

        Args:
            cfg: the ``optim`` section.
            p, g: a stacked parameter [N, ...] and its gradient.
            slots: its state entries, stacked.
            s: learning rates and step counts.
        Returns:
            (the new parameter, the new state entries).
        """
        raise NotImplementedError

    @classmethod
    def torch_state(cls, cfg, state: dict, step: float) -> dict:
        """A member's state entries as its torch optimizer holds them."""
        if cls.counts_steps:
            state["step"] = torch.tensor(float(step), dtype=torch.float32)
        return state
