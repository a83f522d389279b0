"""`gantrain-analyze analysis.point=<checkpoint file or run dir>`: the spectrum is the one at the
checkpoint's parameters, checked against a Jacobian computed here from scratch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch.func import functional_call

from gantrain.analyze import spectrum_at
from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.games import build_game
from gantrain.train import train
from tests.helpers import make_cfg

GAMMA = 0.7
MODEL = ["dataset.modes=3", "arch.depth=1", "arch.width=6", "arch.z_dim=2", "loss=standard",
         "batch_size=16"]
TRAIN = [*MODEL, "method=conopt", f"gamma={GAMMA}", "eta=5e-2", "steps=40", "log_every=20",
         "checkpoint_every=20", "eval.image_steps=[]", "eval.num_samples=32"]
ANALYZE = [*MODEL, "method=conopt", f"gamma={GAMMA}", "analysis.batches=3", "analysis.seed=99"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mog_run")
    assert train(make_cfg(*TRAIN), run)["status"] == "completed"
    return run


def conopt_jacobian(cfg, state: dict | None) -> np.ndarray:
    """The mean over the analysis batches of the Jacobian of −u, u = v + γ∇½‖v‖², v = (∇_φ L_G,
    ∇_θ L_D) with the non-saturating losses, written out here on one flat parameter vector
    (φ then θ) and differentiated by torch.autograd.functional.jacobian. ``state``: the
    checkpoint's modules, else the seeded initialization."""
    torch.manual_seed(cfg.seed)
    game = build_game(validate(cfg), "cpu", torch.float64)
    if state is not None:
        game.generator.load_state_dict(state["generator"])
        game.discriminator.load_state_dict(state["discriminator"])
    G, D = game.generator, game.discriminator
    named = [("g", n, p) for n, p in G.named_parameters()] + [("d", n, p) for n, p in D.named_parameters()]
    w0 = torch.cat([p.detach().reshape(-1) for _, _, p in named])
    rng = torch.Generator().manual_seed(int(cfg.analysis.seed))
    batches = [game.sample_batch(int(cfg.batch_size), rng) for _ in range(int(cfg.analysis.batches))]

    def neg_field(w, x, z):
        pieces, i = {"g": {}, "d": {}}, 0
        for who, n, p in named:
            pieces[who][n] = w[i:i + p.numel()].view_as(p)
            i += p.numel()
        d_real = functional_call(D, pieces["d"], (x,))
        d_fake = functional_call(D, pieces["d"], (functional_call(G, pieces["g"], (z,)),))
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        loss_g = F.softplus(-d_fake).mean()
        v_g = torch.autograd.grad(loss_g, list(pieces["g"].values()), create_graph=True)
        v_d = torch.autograd.grad(loss_d, list(pieces["d"].values()), create_graph=True)
        v = torch.cat([t.reshape(-1) for t in (*v_g, *v_d)])
        grad_r = torch.autograd.grad(0.5 * v.dot(v), w, create_graph=True)[0]
        return -(v + GAMMA * grad_r)

    jacs = [torch.autograd.functional.jacobian(lambda w: neg_field(w, x, z), w0.clone())
            for x, z in batches]
    return torch.stack(jacs).mean(0).numpy()


def assert_same_spectrum(pairs, J, tol=1e-8):
    got = np.array([complex(re, im) for re, im in pairs])
    want = np.linalg.eigvals(J)
    cost = np.abs(got[:, None] - want[None, :])
    i, j = linear_sum_assignment(cost)
    assert len(got) == len(want)
    assert (cost[i, j] / np.maximum(1, np.abs(want[j]))).max() < tol


@pytest.mark.slow
def test_spectrum_at_a_run_dir_and_its_checkpoint_is_the_checkpoints(run_dir):
    ckpt = run_dir / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)["modules"]
    cfg = make_cfg(*ANALYZE)
    J_ckpt, J_init = conopt_jacobian(cfg, state), conopt_jacobian(cfg, None)
    by_dir = spectrum_at(make_cfg(*ANALYZE, f"analysis.point={run_dir}"))
    by_file = spectrum_at(make_cfg(*ANALYZE, f"analysis.point={ckpt}"))
    init = spectrum_at(make_cfg(*ANALYZE, "analysis.point=init"))
    assert by_dir["point"] == by_file["point"] == str(ckpt) and init["point"] == "init"
    assert by_dir["spectrum"] == "full" and by_dir["n_params"] == J_ckpt.shape[0]
    assert_same_spectrum(by_dir["eigenvalues"], J_ckpt)
    assert by_file["eigenvalues"] == by_dir["eigenvalues"]
    assert_same_spectrum(init["eigenvalues"], J_init)
    # Training moved the point: the two spectra are far apart (not a rounding difference).
    ev_ckpt, ev_init = np.linalg.eigvals(J_ckpt), np.linalg.eigvals(J_init)
    assert np.abs(np.sort(np.abs(ev_ckpt)) - np.sort(np.abs(ev_init))).max() > 1e-2


@pytest.mark.slow
def test_cli_analyzes_a_run_dir(run_dir, tmp_path):
    out = tmp_path / "an"
    proc = _analyze_cli(*ANALYZE, f"analysis.point={run_dir}", "analysis.compare=[conopt]",
                        "analysis.gammas=[1]", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    r = json.loads((out / "spectrum.json").read_text())
    assert r["point"] == str(run_dir / "checkpoints" / "last.pt")
    # the in-process spectrum, itself checked against conopt_jacobian above
    want = spectrum_at(make_cfg(*ANALYZE, f"analysis.point={run_dir}"))["eigenvalues"]
    np.testing.assert_allclose(r["eigenvalues"], want, rtol=1e-10, atol=1e-12)


def _analyze_cli(*args) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("gantrain-analyze")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"})


def _not_a_checkpoint(tmp_path: Path) -> Path:
    p = tmp_path / "notes.pt"
    p.write_text("not a checkpoint\n")
    return p


def _other_pickle(tmp_path: Path) -> Path:
    p = tmp_path / "weights.pt"
    torch.save({"generator": {}, "step": 3}, p)
    return p


@pytest.mark.parametrize("make_point,says", [
    (lambda tmp: tmp / "no_such_run", "no checkpoint at"),
    (lambda tmp: tmp, "no checkpoint at"),                       # a folder without checkpoints/
    (_not_a_checkpoint, "is not a gantrain checkpoint"),
    (_other_pickle, "is not a gantrain checkpoint"),
], ids=["missing", "dir-without-checkpoint", "text-file", "other-pickle"])
def test_bad_point_is_a_one_line_error(tmp_path, make_point, says):
    point = make_point(tmp_path)
    with pytest.raises(ConfigError) as e:
        spectrum_at(make_cfg(*ANALYZE, f"analysis.point={point}"))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"analysis.point={str(point)!r} is invalid") and says in msg


def test_checkpoint_of_another_model_is_a_one_line_error(run_dir):
    with pytest.raises(ConfigError, match="does not fit this model .*size mismatch") as e:
        spectrum_at(make_cfg(*[a for a in ANALYZE if "width" not in a], "arch.width=5",
                             f"analysis.point={run_dir}"))
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_cli_bad_point_prints_one_line(tmp_path):
    point = _not_a_checkpoint(tmp_path)
    proc = _analyze_cli(*ANALYZE, f"analysis.point={point}", f"hydra.run.dir={tmp_path / 'an'}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gantrain-analyze: error: analysis.point=")
    assert "not a gantrain checkpoint" in lines[0] and "Traceback" not in proc.stderr
