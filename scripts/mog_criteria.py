#!/usr/bin/env python3
"""Mode coverage of trained mixture-of-Gaussians runs under two criteria, from their checkpoints.

    .venv/bin/python scripts/mog_criteria.py outputs/multirun/fig8          # every run below it

The logged criterion (docs/experiments.md §B.3) counts a sample as high quality within
``eval.std_multiple`` (3) mode std of its nearest mode: 0.18 for std 0.06 whatever the ring's
radius, i.e. 12% of the distance between neighbouring modes at r = 2 but 2.4% at r = 10. The second
criterion scales with the ring: within a quarter of that distance (so a sample is unambiguously at
one mode). Both count a mode as covered at ``eval.mode_min_share`` of the samples. Also printed: the
median distance of a sample to its nearest mode, in mode std, and the samples' std per axis, which
tell a broad cloud from samples concentrated slightly off the modes.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gantrain.checkpoint import read_checkpoint
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.metrics.modes import mode_metrics


def criteria(run_dir: Path) -> dict:
    cfg = OmegaConf.load(run_dir / "config.yaml")
    game = build_game(validate(cfg))
    payload = read_checkpoint(run_dir / "checkpoints" / "last.pt")
    game.generator.load_state_dict(payload["modules"]["generator"])
    samples, centers = game.eval_samples().double(), game.centers.double()
    std, share = float(cfg.dataset.std), float(cfg.eval.mode_min_share)
    spacing = float(torch.cdist(centers[:1], centers[1:]).min())
    logged = mode_metrics(samples, centers, std, float(cfg.eval.std_multiple), share)
    # the same metric with the radius a quarter of the spacing, expressed as a multiple of std
    scaled = mode_metrics(samples, centers, std, spacing / 4 / std, share)
    nearest = torch.cdist(samples, centers).min(dim=1).values
    return {"run": str(run_dir), "method": cfg.method.name, "gamma": float(cfg.gamma),
            "seed": int(cfg.seed), "radius": float(cfg.dataset.radius), "step": int(payload["step"]),
            "modes_3std": logged["modes_covered"], "hq_3std": logged["high_quality_fraction"],
            "modes_quarter_spacing": scaled["modes_covered"],
            "hq_quarter_spacing": scaled["high_quality_fraction"],
            "median_dist_in_std": float(nearest.median()) / std,
            "sample_std": [round(float(s), 3) for s in samples.std(dim=0)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="run directories or folders holding them")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    a = ap.parse_args()
    runs = sorted({p.parent.parent for f in a.folders for p in f.glob("**/checkpoints/last.pt")})
    if not runs:
        ap.error(f"no run with checkpoints/last.pt under {', '.join(map(str, a.folders))}")
    rows = [criteria(r) for r in runs]
    print("| run | method | γ | seed | step | modes (3 std) | hq (3 std) | modes (¼ spacing) | "
          "hq (¼ spacing) | median dist / std | sample std |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['run']} | {r['method']} | {r['gamma']:g} | {r['seed']} | {r['step']} | "
              f"{r['modes_3std']} | {r['hq_3std']:.3f} | {r['modes_quarter_spacing']} | "
              f"{r['hq_quarter_spacing']:.3f} | {r['median_dist_in_std']:.1f} | {r['sample_std']} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
