"""Shared pieces of the ensemble tests: a tiny MoG game, members with their own seed, γ and η,
and the comparison of a member's run directory with the single run of the same settings (the
trainer on the member's own, unstacked modules)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from gantrain.ensemble import train_ensemble
from gantrain.train import train
from tests.helpers import make_cfg

TINY = ("dataset.modes=3", "arch.depth=2", "arch.width=8", "arch.z_dim=2", "eval.num_samples=64",
        "eval.image_steps=[]", "checkpoint_every=10", "batch_size=32")
MEMBERS = [(0, 10.0, 1e-3), (1, 1.0, 3e-3), (2, 0.5, 1e-2)]   # (seed, γ, η)


def member_cfgs(*overrides: str, members=MEMBERS, base=TINY):
    return [make_cfg(*base, *overrides, f"seed={s}", f"gamma={g}", f"eta={e}")
            for s, g, e in members]


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def tensors(tree, prefix="") -> dict[str, torch.Tensor]:
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(tensors(v, f"{prefix}{k}."))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(tensors(v, f"{prefix}{i}."))
    elif isinstance(tree, torch.Tensor):
        out[prefix] = tree
    return out


def checkpoint(run_dir: Path) -> dict[str, torch.Tensor]:
    payload = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return {**tensors(payload["modules"]), "step": torch.tensor(payload["step"])}


def close(a, b, rtol: float, atol: float) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    return a == b


def assert_same_trajectory(run_dir: Path, ref_dir: Path, rtol: float, atol: float) -> None:
    """Every logged record and every tensor of the last checkpoint (parameters and optimizer
    state) within tolerance; the same status and step."""
    got, want = records(run_dir), records(ref_dir)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        assert g.keys() == w.keys(), (g.keys(), w.keys())
        bad = {k: (g[k], w[k]) for k in w if not close(g[k], w[k], rtol, atol)}
        assert not bad, f"step {w['step']}: {bad}"
    has = [(d / "checkpoints" / "last.pt").is_file() for d in (run_dir, ref_dir)]
    assert has[0] == has[1]
    a, b = (checkpoint(run_dir), checkpoint(ref_dir)) if has[1] else ({}, {})
    assert a.keys() == b.keys()
    for k in b:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.allclose(a[k].double(), b[k].double(), rtol=rtol, atol=atol), \
            (k, (a[k].double() - b[k].double()).abs().max().item())
    s, r = summary(run_dir), summary(ref_dir)
    assert (s["status"], s["steps_done"]) == (r["status"], r["steps_done"])


def ensemble_vs_single(tmp_path: Path, cfgs, rtol: float, atol: float) -> list[dict]:
    """Train ``cfgs`` as one ensemble and each alone; assert every member equals its single run."""
    out = train_ensemble(cfgs, [tmp_path / f"member{i}" for i in range(len(cfgs))])
    for i, cfg in enumerate(cfgs):
        train(cfg, tmp_path / f"single{i}")
        assert_same_trajectory(tmp_path / f"member{i}", tmp_path / f"single{i}", rtol, atol)
    return out
