"""Ensembles: many runs of one small game trained in one process (``launcher=ensemble``).

``engine`` steps N members with ``torch.func.vmap`` over their stacked parameters, ``functional``
holds the rules as one-member functions (the optimizers are the single run's own,
``gantrain.optim.stacked``), and ``packing`` decides which jobs of a sweep may share an ensemble."""
from gantrain.ensemble.engine import Ensemble, Member, train_ensemble
from gantrain.ensemble.functional import COVERED, NOT_COVERED
from gantrain.ensemble.packing import MEMBER_KEYS, pack, pack_key

__all__ = ["COVERED", "MEMBER_KEYS", "NOT_COVERED", "Ensemble", "Member", "pack", "pack_key",
           "train_ensemble"]
