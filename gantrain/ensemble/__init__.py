"""Ensembles: many runs of one small game trained in one process (``launcher=ensemble``).

``engine`` steps N members: the rule's own ``train_step`` on a ``stack.MemberGame`` whose players
hold the members along their parameters' first dimension, with the single run's optimizers over
N members (``gantrain.optim.stacked``); ``coverage`` says which jobs it can run, ``packing`` which
jobs of a sweep may share an ensemble."""
from gantrain.ensemble.coverage import COVERED, NOT_COVERED
from gantrain.ensemble.engine import Ensemble, Member, train_ensemble
from gantrain.ensemble.packing import MEMBER_KEYS, pack, pack_key

__all__ = ["COVERED", "MEMBER_KEYS", "NOT_COVERED", "Ensemble", "Member", "pack", "pack_key",
           "train_ensemble"]
