"""The image pipeline end to end on fake_images: training, IS/FID with a random Inception weights
file, sample grids, EMA, exact resume, missing weights, engine refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gantrain.errors import ConfigError
from gantrain.train import train
from tests.helpers import make_cfg

TINY = ["dataset=fake_images", "dataset.size=64", "arch.filters=4", "batch_size=8", "log_every=1"]
EVAL = ["eval.every=2", "eval.num_samples=10", "eval.splits=2", "eval.batch_size=10",
        "eval.force_fid=true", "eval.reference_num_images=10"]


def sample_grid(path, resolution=32, nrow=8, pad=2):
    """The decoded 8×8 grid of 64 samples (torchvision's 2-pixel padding), not blank."""
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255
    side = nrow * (resolution + pad) + pad
    assert img.shape == (side, side, 3), img.shape
    first = img[pad:pad + resolution, pad:pad + resolution]
    second = img[pad:pad + resolution, 2 * pad + resolution:2 * (pad + resolution)]
    # a tiny generator at init is low-contrast, but not constant, and samples differ
    assert first.std() > 1e-3 and np.abs(first - second).max() > 2 / 255, f"{path} is blank"
    return img


def records(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.long
def test_training_with_evaluation_and_ema(tmp_path, torch_home, monkeypatch):
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "cache"))
    cfg = make_cfg(*TINY, *EVAL, "method=jare", "gamma=1", "steps=2", "ema.decay=0.9")
    summary = train(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    recs = {r["step"]: r for r in records(tmp_path / "run")}
    for step in (0, 2):
        r = recs[step]
        for prefix in ("", "ema_"):
            assert r[prefix + "inception_score"] >= 1.0 and r[prefix + "fid"] > 0
            assert r[prefix + "missing"] is None
        assert r["eval_protocol"]["num_samples"] == 10
        grids = [sample_grid(tmp_path / "run" / "samples" / f"{kind}_{step:06d}.png")
                 for kind in ("step", "ema_step")]
        if step == 2:   # after two steps the EMA (decay 0.9) is not the generator
            assert np.abs(grids[0] - grids[1]).max() > 0
    assert "fid" not in recs[1]                               # evaluation only every 2 steps
    assert recs[2]["fid"] != recs[2]["ema_fid"]               # the EMA is its own generator
    assert summary["metrics"]["fid"] == recs[2]["fid"]
    assert list((tmp_path / "cache").glob("*.npz"))            # reference statistics were cached


def test_missing_weights_are_reported_not_zero(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    cfg = make_cfg(*TINY, *EVAL, "method=simgd", "steps=2")
    with caplog.at_level("WARNING", logger="gantrain"):
        summary = train(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    assert sum("pt_inception-2015-12-05-6726825d.pth" in m for m in caplog.messages) == 1
    final = records(tmp_path / "run")[-1]
    assert final["fid"] is None and final["inception_score"] is None
    assert "pt_inception-2015-12-05-6726825d.pth" in final["missing"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["simgd", "jare", "altgd"])
def test_image_runs_resume_exactly(tmp_path, method):
    over = [*TINY, f"method={method}", "arch=dcgan3", "arch.batch_norm=true", "ema.decay=0.5",
            "checkpoint_every=2", "gamma=0.5"]
    train(make_cfg(*over, "steps=4"), tmp_path / "straight")
    train(make_cfg(*over, "steps=2"), tmp_path / "resumed")
    train(make_cfg(*over, "steps=4"), tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    assert a["modules"]["game"]["next_batch"] == b["modules"]["game"]["next_batch"] >= 4
    for part in ("generator", "discriminator", "game"):
        sa, sb = a["modules"][part], b["modules"][part]
        flat_a = sa.get("ema", sa) if part == "game" else sa
        flat_b = sb.get("ema", sb) if part == "game" else sb
        for k in flat_a:
            if isinstance(flat_a[k], torch.Tensor):
                assert torch.equal(flat_a[k], flat_b[k]), (part, k)
    assert records(tmp_path / "straight") == records(tmp_path / "resumed")


def test_mixed_precision_is_refused_for_double_backprop(tmp_path):
    with pytest.raises(ConfigError, match="engine.amp=bf16 is invalid with method=jare"):
        train(make_cfg(*TINY, "method=jare", "engine.amp=bf16", "steps=1"), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    s = train(make_cfg(*TINY, "method=simgd", "engine.amp=bf16", "steps=1"), tmp_path / "b")
    assert s["status"] == "completed"


def test_missing_cifar_fails_at_start_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as e:
        train(make_cfg("dataset=cifar10", f"dataset.root={tmp_path / 'nope'}", "steps=1"),
              tmp_path / "run")
    assert "\n" not in str(e.value) and str(tmp_path / "nope") in str(e.value)
    assert not (tmp_path / "run").exists()
