"""Spectra during training (``analysis.every=K``): the leading eigenvalues at the current point,
ζ, τ and lr / max stable lr, for metrics.jsonl and wandb, with a complex-plane picture."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gantrain.analysis.plots import complex_plane
from gantrain.analysis.spectrum import analyze
from gantrain.games.base import Game


class SpectrumMonitor:
    def __init__(self, cfg, game: Game):
        self.cfg, self.game = cfg, game
        self.every = int(cfg.analysis.every)
        # Own RNG: analysing never moves the training RNG, so resumed runs stay identical.
        self.rng = torch.Generator(device=game.device).manual_seed(int(cfg.analysis.seed))

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def __call__(self, step: int, image_dir: Path) -> tuple[dict, list[Path]]:
        r = analyze(self.cfg, self.game, "current", rng=self.rng)
        ev = np.array([complex(a, b) for a, b in r["eigenvalues"]])
        top = ev[np.argsort(-np.abs(ev))[:int(self.cfg.analysis.k)]]
        record = {"spectrum_top": [[float(e.real), float(e.imag)] for e in top],
                  "spectrum_max_real": float(ev.real.max()),
                  "spectrum_max_abs": float(np.abs(ev).max()),
                  "zeta": r["zeta"], "tau": r["tau"],
                  "max_stable_lr": r["max_stable_lr"],
                  "lr_over_max_stable_lr": r["lr_over_max_stable_lr"]}
        path = complex_plane({r["method"]: r["eigenvalues"]},
                             Path(image_dir) / f"spectrum_step_{step:06d}.png",
                             f"step {step}: {r['spectrum']} spectrum, {r['expectation']}")
        return record, [path]
