"""The one optimizer update: each optimizer's formula (``Optimizer.stacked_update``) applied to
parameters stacked along a leading member dimension, each member with its own learning rate and
step count.

The ensemble steps N members with ``StackedOptimizer`` directly; a single run's player is the case
N = 1 (``PlayerOptimizer``: the interface the rules and checkpoints use, the direction in
``p.grad``). Nothing else computes an optimizer step, so a single run and an ensemble member take
the same update. A member's state moves to and from torch's ``state_dict`` format
(``member_state`` / ``load_member``), so checkpoints written before this module, by
``torch.optim``, resume.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from gantrain.lazy import torch
from gantrain.optim.base import StackedStep
from gantrain.optim.registry import OPTIMS

Stack = dict  # name -> tensor [N, ...]


def _plain(cfg) -> dict:
    """An ``optim`` section (DictConfig, dataclass or dict) as a plain dict."""
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    if hasattr(cfg, "_metadata"):   # a DictConfig
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)
    return dict(cfg)


def _col(v, like):
    """A per-member vector [N] shaped to broadcast against a stacked tensor [N, ...]."""
    return v.reshape(-1, *[1] * (like.dim() - 1)).to(like.dtype)


class StackedOptimizer:
    """One optimizer config for N members; ``lr`` [N] holds each member's learning rate.

    The state lives in one flat tensor [N, P] per slot (P: all parameters' sizes together), and a
    step updates the parameters as one flat tensor too: the update's few elementwise operations
    run once per step, not once per parameter tensor.

    Args:
        cfg: the ``optim`` section.
        lrs: each member's learning rate.
        params: the stacked parameters by name (their shapes and devices).
    """

    def __init__(self, cfg, lrs: Sequence[float], params: Stack):
        OPTIMS.check(cfg.name)
        self.rule = OPTIMS[cfg.name]
        # the checked Options (attribute reads cost nothing per step), or made from a section
        self.cfg = cfg if isinstance(cfg, self.rule.Options) else self.rule.Options(**_plain(cfg))
        first = next(iter(params.values()))
        self.lr = torch.tensor(list(lrs), dtype=torch.float64, device=first.device)
        self.n = len(lrs)
        self.shapes = {k: tuple(p.shape[1:]) for k, p in params.items()}
        self.spans, at = {}, 0
        for k, shape in self.shapes.items():
            size = math.prod(shape)
            self.spans[k] = (at, at + size)
            at += size
        self.spans_end = at
        flat = self.flat(params)
        self.steps = torch.zeros(self.n, dtype=torch.float64, device=first.device)
        self.state = {s: self.rule.fresh(self.cfg, flat) for s in self.rule.used_slots(self.cfg)}
        # SGD's momentum buffer starts as the first gradient, not as zeros
        self.started = torch.zeros(self.n, dtype=torch.bool, device=first.device)
        self._lr_col = None   # lr as a column in the parameters' dtype (made at the first step)

    def flat(self, tensors: Stack):
        """Stacked tensors by name as one [N, P] tensor (a copy). Each is written straight into
        its columns: a gradient in a transposed layout (a batched matrix product's) is read
        once, not first made contiguous."""
        first = next(iter(tensors.values()))
        out = torch.empty(self.n, self.spans_end, dtype=first.dtype, device=first.device)
        for k, (a, b) in self.spans.items():
            out[:, a:b].view(self.n, *self.shapes[k]).copy_(tensors[k])
        return out

    def split(self, flat) -> Stack:
        """A [N, P] tensor as stacked tensors by name (views)."""
        return {k: flat[:, a:b].view(self.n, *self.shapes[k]) for k, (a, b) in self.spans.items()}

    # --- a member's state in torch's format ----------------------------------------------------
    def load_member(self, i: int, states: Sequence[dict], names: Sequence[str]) -> None:
        """Member ``i``'s state from torch-format per-parameter states (empty before a first step).

        Args:
            i: the member.
            states: one dict per parameter (slot name → tensor, and ``step``), in ``names``' order.
            names: the parameters' names.
        """
        for st, k in zip(states, names):
            a, b = self.spans[k]
            for slot, flat in self.state.items():
                if st.get(slot) is not None:
                    flat[i, a:b] = st[slot].reshape(-1)
                    self.started[i] = True
            if "step" in st:
                self.steps[i] = float(st["step"])

    def member_state(self, i: int, names: Sequence[str]) -> list[dict]:
        """Member ``i``'s per-parameter states as torch's optimizer holds them ({} before a step)."""
        if not bool(self.started[i]) and float(self.steps[i]) == 0:
            return [{} for _ in names]
        out = []
        for k in names:
            a, b = self.spans[k]
            st = {slot: flat[i, a:b].reshape(self.shapes[k]).clone() for slot, flat in self.state.items()}
            out.append(self.rule.torch_state(self.cfg, st, float(self.steps[i])))
        return out

    # --- one step ------------------------------------------------------------------------------
    def step(self, params: Stack, grads: Stack, active=None) -> Stack:
        """The stepped parameters (a new dict); the state moves for the ``active`` members.

        Args:
            params, grads: stacked tensors by name.
            active: a bool tensor [N]; None: every member (no device sync to find out).
        Returns:
            the new parameters by name.
        """
        p, g = self.flat(params), self.flat(grads)   # copies: the update writes them in place
        return self.split(self.update_flat(p, g, active))

    def update_flat(self, p, g, active=None):
        """``step`` on flat [N, P] tensors: ``p`` (which the update may write in place) stepped
        with ``g``.

        Returns:
            the new flat parameters (``p`` itself when the update wrote it in place).
        """
        everyone = active is None or bool(active.all())   # the common case: no one held back
        steps = self.steps + 1 if everyone else torch.where(active, self.steps + 1, self.steps)
        if self._lr_col is None or self._lr_col.dtype != p.dtype:
            self._lr_col = _col(self.lr, p)
        st = StackedStep(lr=self._lr_col, lrs=self.lr, steps=steps,
                         started=_col(self.started, p).bool(), col=lambda v: _col(v, p))
        if not everyone:
            before, kept = p.clone(), {s: v.clone() for s, v in self.state.items()}
        q, moved = self.rule.stacked_update(self.cfg, p, g, dict(self.state), st)
        if not everyone:
            mask = _col(active, p).bool()
            q = torch.where(mask, q, before)   # a held-back member keeps its parameters and state
            moved = {s: torch.where(mask, v, kept[s]) for s, v in moved.items()}
        self.state, self.steps = moved, steps
        self.started = self.started | True if everyone else self.started | active
        return q


class PlayerOptimizer:
    """A player's optimizer: ``StackedOptimizer`` stepping the player's own parameters in place
    with the direction the rule left in ``p.grad``. A single run is one member; a batched game
    (the phase diagrams' grid) holds its points along its parameters' first dimension and gives
    each its step size in ``lrs``.

    Args:
        cfg: the ``optim`` section.
        params: the player's parameters.
        lrs: each point's step size when the parameters hold points along their first dimension;
            None: one run at ``cfg.lr``.
    """

    def __init__(self, cfg, params: Sequence, lrs=None):
        self.params = list(params)
        self.names = [str(i) for i in range(len(self.params))]
        self.batched = lrs is not None
        lrs = [float(cfg.lr)] if lrs is None else [float(v) for v in lrs]
        self.core = StackedOptimizer(cfg, lrs, self._stacked(self.params))
        self.flat_params = self._share_storage()
        self.active = None   # points held back this step (a bool tensor [N]); None: none

    def _stacked(self, tensors) -> Stack:
        return {k: t.detach() if self.batched else t.detach().unsqueeze(0)
                for k, t in zip(self.names, tensors)}

    @property
    def lr(self) -> float:
        """The step size (the first point's, in a batched game)."""
        return float(self.core.lr[0])

    def step(self) -> None:
        """One update of every parameter with its ``p.grad`` (zero where it has none)."""
        with torch.no_grad():
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.params]
            if self.flat_params is not None:   # the parameters are views of it: step in place
                g = self.core.flat(self._stacked(grads))
                q = self.core.update_flat(self.flat_params, g, self.active)
                if q is not self.flat_params:
                    self.flat_params.copy_(q)
                return
            new = self.core.step(self._stacked(self.params), self._stacked(grads), self.active)
            for p, k in zip(self.params, self.names):
                p.copy_(new[k] if self.batched else new[k][0])

    def _share_storage(self):
        """The parameters made views of one flat tensor [N, P] (returned; N = 1 for one run), so
        that a step is a few operations on it, as torch's foreach kernels step a list; None
        where the parameters' layouts forbid it (non-contiguous, e.g. channels_last, or mixed
        dtypes). Stacked members keep their own columns: member i's parameters are row i."""
        ps = self.params
        if not ps or len({(p.dtype, p.device) for p in ps}) > 1 \
                or not all(p.is_contiguous() for p in ps):
            return None
        n = ps[0].shape[0] if self.batched else 1
        flat = torch.cat([p.detach().reshape(n, -1) for p in ps], 1)
        at = 0
        for p in ps:
            size = p.numel() // n
            p.data = flat[:, at:at + size].view_as(p) if self.batched \
                else flat[0, at:at + size].view_as(p)
            at += size
        return flat

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients."""
        for p in self.params:
            p.grad = None

    def states(self) -> list[dict]:
        """Each parameter's state as torch's optimizer holds it ({} before the first step)."""
        return self.core.member_state(0, self.names)

    def load_states(self, states: Sequence[dict]) -> None:
        """Set each parameter's state from ``states`` (``states()``'s format)."""
        self.core.load_member(0, states, self.names)

    def state_dict(self) -> dict:
        """The state in ``torch.optim.Optimizer.state_dict``'s format."""
        states = self.states()
        return {"state": {i: st for i, st in enumerate(states) if st},
                "param_groups": [{"lr": self.lr, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict`` (this class's, or a ``torch.optim`` optimizer's of the same
        kind, as checkpoints written before gantrain stepped its own optimizers hold)."""
        saved = state["state"]
        self.load_states([saved.get(i, {}) for i in range(len(self.params))])
