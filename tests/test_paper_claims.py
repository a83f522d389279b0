"""Short training runs reproduce the qualitative claims of docs/experiments.md §A (JARE Fig. 5):
at μ = 6, σ = 0.2, η = 1e-3, γ = 10, ConOpt leaves the equilibrium, JARE converges, and SimGD is
slower than JARE; and on the default mixture of Gaussians (docs/experiments.md §B) JARE reaches the
modes while SimGD's samples have not left one."""
from __future__ import annotations

import json

import pytest
import torch

from gantrain.train import train
from tests.helpers import make_cfg
from tests.test_train import hand_mode_metrics

STEPS = 6000


@pytest.fixture(scope="module")
def finals(tmp_path_factory):
    out = {}
    for method in ("simgd", "conopt", "jare"):
        cfg = make_cfg("experiment=gaussian_mu6", f"method={method}", f"steps={STEPS}",
                       "log_every=1000", f"checkpoint_every={STEPS}")
        summary = train(cfg, tmp_path_factory.mktemp(method))
        assert summary["status"] == "completed"
        out[method] = summary["metrics"]["dist_equilibrium"]
    return out


START = 0.1   # ‖(0.05, 0.05, 0.05, 0.05)‖, the released code's start


def test_conopt_moves_away_from_the_equilibrium(finals):
    assert finals["conopt"] > 10 * START


def test_jare_converges(finals):
    assert finals["jare"] < 0.5 * START


def test_simgd_is_slower_than_jare(finals):
    assert finals["simgd"] > 2 * finals["jare"]


# --- the default mixture of Gaussians -----------------------------------------------------------
# `gantrain method=jare gamma=10` and `method=simgd`: 8 modes at r = 2, 4x256 MLPs, TF RMSProp,
# η = 1e-3, batch 128, minimax loss, mode metrics on 2560 fixed latents. Measured (seeds 0-2, modes
# covered every 50 steps to step 1000): JARE first covers >= 7 modes at step 450/500/550 and then
# moves between 3 and 8 (seed 0 over 4000 steps: 8 at every 250-step log from step 1750 on);
# SimGD covers at most 1 mode up to step 600 in all three seeds, but does not stay collapsed: 3-5
# modes around step 1000, and all 8 from step 2000 to 4000 (seed 0). So the claim tested here is
# the early one: within the first MOG_STEPS steps JARE covers >= 7 modes at some logged step of
# the last quarter, while SimGD never covers more than one.
MOG_STEPS, MOG_LOG = 600, 50
MOG_SEEDS = (0, 1)


@pytest.fixture(scope="module")
def mog_modes(tmp_path_factory):
    out = {}
    for method in ("jare", "simgd"):
        for seed in MOG_SEEDS:
            d = tmp_path_factory.mktemp(f"mog-{method}-{seed}")
            cfg = make_cfg(f"method={method}", "gamma=10", f"seed={seed}", f"steps={MOG_STEPS}",
                           f"log_every={MOG_LOG}", "eval.image_steps=[]",
                           f"checkpoint_every={MOG_STEPS}")
            assert (cfg.arch.depth, cfg.arch.width, cfg.optim.name, cfg.eta, cfg.dataset.modes) \
                == (4, 256, "rmsprop_tf", 1e-3, 8)           # the defaults, untouched
            assert train(cfg, d)["status"] == "completed"
            recs = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
            late = [r["modes_covered"] for r in recs if r["step"] > 0.75 * MOG_STEPS]
            out[method, seed] = recs, late, d
    return out


@pytest.mark.parametrize("seed", MOG_SEEDS)
def test_jare_reaches_the_modes_on_the_default_mixture(mog_modes, seed):
    _, late, _ = mog_modes["jare", seed]
    assert max(late) >= 7, late


@pytest.mark.parametrize("seed", MOG_SEEDS)
def test_simgd_stays_on_at_most_one_mode_meanwhile(mog_modes, seed):
    recs, late, _ = mog_modes["simgd", seed]
    assert max(r["modes_covered"] for r in recs) <= 1, [r["modes_covered"] for r in recs]


def test_mode_metrics_of_the_trained_generator_by_hand(mog_modes):
    """The logged numbers are what the trained generator does: recomputed from the checkpoint."""
    recs, _, d = mog_modes["jare", MOG_SEEDS[0]]
    ckpt = torch.load(d / "checkpoints" / "last.pt", weights_only=True)
    expected = hand_mode_metrics(ckpt["modules"]["generator"], "arch.depth=4", "arch.width=256",
                                 "eval.num_samples=2560")
    assert recs[-1]["modes_covered"] == expected["modes_covered"] >= 5
    assert recs[-1]["high_quality_fraction"] == pytest.approx(expected["high_quality_fraction"],
                                                              abs=1e-9)
    assert recs[-1]["mode_kl"] == pytest.approx(expected["mode_kl"], abs=1e-9)
