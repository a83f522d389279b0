"""Whole runs: an ensemble of three seeds ends as the three single runs do (float32, MoG r = 2 of
JARE Fig. 7 with smaller MLPs and fewer steps): the same status, the same modes covered, the
high-quality fraction within 0.05, and for a step size that blows up, divergence at the same step."""
from __future__ import annotations

import pytest

from gantrain.ensemble import train_ensemble
from gantrain.train import train
from tests.ensemble.common import summary
from tests.helpers import make_cfg

RUN = ("experiment=mog_r2", "arch.depth=2", "arch.width=64", "steps=1500", "log_every=500",
       "checkpoint_every=1500", "eval.image_steps=[]", "eta=1e-3")


@pytest.mark.long
@pytest.mark.parametrize("setting", ["method=jare gamma=10", "method=simgd",
                                     "method=conopt gamma=10 optim=sgd eta=0.5"])
def test_three_seeds_same_outcome(tmp_path, setting):
    cfgs = [make_cfg(*RUN, *setting.split(), f"seed={s}") for s in range(3)]
    out = train_ensemble(cfgs, [tmp_path / f"member{s}" for s in range(3)])
    for s, cfg in enumerate(cfgs):
        ref = train(cfg, tmp_path / f"single{s}")
        got = summary(tmp_path / f"member{s}")
        assert got == out[s]
        assert (got["status"], got["diverged_at"]) == (ref["status"], ref["diverged_at"])
        # float32 round-off grows over 1500 steps: the outcome agrees, the last digits need not.
        # SimGD does not converge here: it circles with at most one mode half-covered, and
        # round-off alone moves that count by one (seed 2: 1 mode with torch.optim's Adam
        # kernels, 0 with gantrain's own update, loss_d 0.218 against 0.251), so SimGD agrees to
        # one mode; the converging rules exactly.
        slack = 1 if "simgd" in setting else 0
        assert abs(got["metrics"].get("modes_covered") - ref["metrics"].get("modes_covered")) \
            <= slack, (s, got, ref)
        if ref["status"] == "completed":
            assert abs(got["metrics"]["high_quality_fraction"]
                       - ref["metrics"]["high_quality_fraction"]) < 0.05, (s, got, ref)
