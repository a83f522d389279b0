"""The image game on the real digits: the samples each evaluation scored are saved (uint8 .npz)
and score the same again; a net whose channels do not fit the dataset is refused in one line."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from gantrain.metrics.digits_classifier import load_digits_classifier
from gantrain.metrics.digits_predict import classify
from gantrain.metrics.mode_histogram import mode_scores
from gantrain.train import train
from tests.helpers import make_cfg


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["digits", "stacked_digits"])
def test_saved_samples_are_the_scored_ones(tmp_path, monkeypatch, dataset):
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "run"
    cfg = make_cfg(f"dataset={dataset}", "steps=6", "log_every=3", "eval.every=3",
                   "eval.num_samples=300", "arch.filters=4", "arch.z_dim=8", "dataset.size=500"
                   if dataset == "stacked_digits" else "seed=0")
    assert train(cfg, d)["status"] == "completed"
    saved = np.load(d / "samples" / "eval_samples.npz")
    samples = saved["samples"]
    channels = 3 if dataset == "stacked_digits" else 1
    assert samples.dtype == np.uint8 and samples.shape == (300, channels, 16, 16)
    assert int(saved["step"]) == 6 and str(saved["dataset"]) == dataset
    last = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()][-1]
    # scored again from the file: the very numbers the run logged
    model, _ = load_digits_classifier()
    labels = classify(model, torch.from_numpy(samples))   # uint8 in
    again = mode_scores(labels.numpy(), 1000 if channels == 3 else 10)
    assert again["modes_covered"] == last["modes_covered"]
    assert again["mode_kl"] == pytest.approx(last["mode_kl"], abs=1e-12)
    assert (d / "samples" / "modes_step_000006.png").is_file()


def test_stacked_digits_with_a_one_channel_net_is_refused_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gantrain.cli", "dataset=stacked_digits",
                           "arch.channels=1", "logger=none", f"hydra.run.dir={tmp_path / 'r'}"],
                          capture_output=True, text=True, timeout=300,
                          env={"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["gantrain: error: arch.channels=1 is invalid: dataset=stacked_digits has "
                     "3-channel images; allowed: null (the dataset's) or 3"], proc.stderr[-2000:]
    assert not (tmp_path / "r" / "checkpoints").exists()   # refused before any training
