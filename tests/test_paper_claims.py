"""Short training runs reproduce the qualitative claims of experiments.md §A (JARE Fig. 5):
at μ = 6, σ = 0.2, η = 1e-3, γ = 10, ConOpt leaves the equilibrium, JARE converges, and SimGD is
slower than JARE."""
from __future__ import annotations

import pytest

from gantrain.train import train
from tests.helpers import make_cfg

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
