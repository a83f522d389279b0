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

# The whole module trains (about 4 min of CPU): the slow tier, rerun by `make test-portable`.
pytestmark = [pytest.mark.long, pytest.mark.trajectory]

# Gaussian game at μ = 6 (not chaotic): finals measured under kernels default, avx2 and native,
# 1 and 2 threads, identical to 4 digits: SimGD 0.0821, ConOpt 1.416, JARE 0.0273. Margins: ConOpt
# 1.42 > 1.0 (10 × START), JARE 0.027 < 0.05, SimGD/JARE 3.0 > 2.
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
# η = 1e-3, batch 128, minimax loss, mode metrics on 2560 fixed latents. A 600-step MLP GAN is
# chaotic: another CPU's kernels change the round-off and a single seed's mode count at one step
# with it (one seed's "max >= 7" held on one machine and failed on another). So the claim is a
# statistic over seeds: the mean number of modes covered over the logs at steps 400-600, per seed
# and averaged over seeds 0-3. Measured here (2-core Xeon, 1 and 2 threads):
#   kernels=default (scalar): JARE per seed 5.8/3.4/3.8/4.6, mean 4.4; SimGD 0.2/0.0/1.0/0.4, mean 0.4
#   kernels=avx2 (= native):  JARE per seed 6.0/4.6/5.4/6.0, mean 5.5; SimGD 1.0/0.6/0.6/0.6, mean 0.7
# Thresholds and their margins: JARE mean >= 3 (margin 1.4 at the worst path), SimGD mean <= 1.5
# (margin 0.8), and in every seed JARE above SimGD by >= 1 (smallest gap 2.8, margin 1.8).
# SimGD does not stay collapsed at this setting (all 8 modes from step 2000 on, seed 0), so the
# claim is the early one; the figure's claim at the papers' setting is `make fig7` (docs/results.md).
MOG_STEPS, MOG_LOG = 600, 50
MOG_SEEDS = (0, 1, 2, 3)
LATE = 400


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
            late = [r["modes_covered"] for r in recs if r["step"] >= LATE]
            assert len(late) == 5
            out[method, seed] = recs, sum(late) / len(late), d
    return out


def test_jare_covers_several_modes_on_average_over_seeds(mog_modes):
    late = [mog_modes["jare", s][1] for s in MOG_SEEDS]
    assert sum(late) / len(late) >= 3.0, late


def test_simgd_stays_near_one_mode_on_average_over_seeds(mog_modes):
    late = [mog_modes["simgd", s][1] for s in MOG_SEEDS]
    assert sum(late) / len(late) <= 1.5, late


def test_jare_covers_more_modes_than_simgd_in_every_seed(mog_modes):
    gaps = {s: mog_modes["jare", s][1] - mog_modes["simgd", s][1] for s in MOG_SEEDS}
    assert min(gaps.values()) >= 1.0, gaps


def test_mode_metrics_of_the_trained_generator_by_hand(mog_modes):
    """The logged numbers are what the trained generator does: recomputed from the checkpoint."""
    recs, _, d = mog_modes["jare", MOG_SEEDS[0]]
    ckpt = torch.load(d / "checkpoints" / "last.pt", weights_only=True)
    expected = hand_mode_metrics(ckpt["modules"]["generator"], "arch.depth=4", "arch.width=256",
                                 "eval.num_samples=2560")
    assert recs[-1]["modes_covered"] == expected["modes_covered"] >= 3
    assert recs[-1]["high_quality_fraction"] == pytest.approx(expected["high_quality_fraction"],
                                                              abs=1e-9)
    assert recs[-1]["mode_kl"] == pytest.approx(expected["mode_kl"], abs=1e-9)
