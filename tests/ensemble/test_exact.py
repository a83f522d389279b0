"""A member of an ensemble follows the single run with the same settings: in float64 to 1e-10
over every logged step and the final checkpoint (parameters and optimizer state), one test per
covered rule and estimate, optimizer, loss and game; in float32 to round-off over 100 steps.

The reference is the ordinary trainer (``gantrain.train.train``) on each member's own modules and
batches. The ensemble runs the same rule code over stacked members, so what these tests check is the
stacking: the stacked players (batched Linears or vmapped modules), each member's batch mean and
half-batches, the per-member inner products and γ, the optimizer over N members, the write-back
to each run directory."""
from __future__ import annotations

import pytest

from gantrain.ensemble import COVERED, train_ensemble
from gantrain.errors import ConfigError
from tests.ensemble.common import ensemble_vs_single, member_cfgs, summary

F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-4, atol=1e-6)
STEPS = ("steps=12", "log_every=1", "dtype=float64")


@pytest.mark.long
@pytest.mark.parametrize("method", COVERED)
def test_every_rule_float64(tmp_path, method):
    ensemble_vs_single(tmp_path, member_cfgs(f"method={method}", *STEPS), **F64)


@pytest.mark.long
@pytest.mark.parametrize("method", ["conopt", "jare", "jare_d", "conopt_g", "sga", "gradnorm"])
def test_unbiased_estimate_float64(tmp_path, method):
    ensemble_vs_single(tmp_path, member_cfgs(f"method={method}", "method.regularizer_estimate=unbiased",
                                             *STEPS), **F64)


@pytest.mark.long
@pytest.mark.parametrize("optim", ["sgd", "sgd momentum", "adam", "rmsprop", "rmsprop momentum"])
def test_optimizers_float64(tmp_path, optim):
    name, *momentum = optim.split()
    extra = ["optim.momentum=0.5"] if momentum else []
    ensemble_vs_single(tmp_path, member_cfgs("method=jare", f"optim={name}", *extra, *STEPS), **F64)


@pytest.mark.slow
def test_sga_align_and_standard_loss_float64(tmp_path):
    # L_G ≠ −L_D (two backward passes), and SGA's per-member sign alignment
    ensemble_vs_single(tmp_path, member_cfgs("method=sga", "method.align=true", "loss=standard",
                                             *STEPS), **F64)


@pytest.mark.slow
@pytest.mark.parametrize("game", ["dataset=gaussian arch=linear", "dataset=gaussian arch=fullrank",
                                  "dataset=dirac arch=linear"])
def test_gaussian_and_dirac_games_float64(tmp_path, game):
    cfgs = member_cfgs("method=conopt", *game.split(), "optim=sgd", "checkpoint_every=5", *STEPS,
                       base=())
    ensemble_vs_single(tmp_path, cfgs, **F64)


@pytest.mark.long
@pytest.mark.parametrize("method", ["simgd", "conopt", "jare"])
def test_float32_first_100_steps(tmp_path, method):
    ensemble_vs_single(tmp_path, member_cfgs(f"method={method}", "steps=100", "log_every=1"), **F32)


@pytest.mark.slow
def test_diverged_member_is_frozen_and_the_rest_go_on(tmp_path):
    # member 1's step size blows it up within a few steps; the others must equal their single runs
    members = [(0, 10.0, 1e-3), (1, 10.0, 3.0), (2, 1.0, 3e-3)]
    cfgs = member_cfgs("method=conopt", "optim=sgd", "divergence.max_param_norm=1e3",
                       "checkpoint_every=2", *STEPS, members=members)
    out = ensemble_vs_single(tmp_path, cfgs, **F64)
    assert [s["status"] for s in out] == ["completed", "diverged", "completed"]
    s = summary(tmp_path / "member1")
    assert 0 < s["diverged_at"] < 12 and s["steps_done"] == s["diverged_at"]
    assert "parameter norm" in s["diverged_reason"] or "is nan" in s["diverged_reason"]


def test_refusals_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^method=cgd is invalid with launcher=ensemble: .*vectorise"):
        train_ensemble(member_cfgs("method=cgd", "steps=2"), [tmp_path / f"m{i}" for i in range(3)])
    cfgs = member_cfgs("method=jare", "steps=2")
    cfgs[2].batch_size = 64
    with pytest.raises(ConfigError, match=r"^run 2 of the ensemble differs from run 0 in batch_size;"):
        train_ensemble(cfgs, [tmp_path / f"m{i}" for i in range(3)])
    assert not any(tmp_path.iterdir())   # nothing written
