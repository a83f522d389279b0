"""Zoo run directories written by hand, as gantrain and gantrain-analyze leave them."""
from __future__ import annotations

import json
from pathlib import Path

import yaml


def write_run(path: Path, *, dataset: str, method: str, seed: int, series: dict[str, list],
              status: str = "completed", step_time_ms: float | None = None,
              wall_time_s: float = 1.0, gamma: float = 10.0, mu: float = 2.0,
              log_every: int = 50) -> None:
    """A finished run as gantrain leaves it: config.yaml, metrics.jsonl (one record per logged
    step, null for a non-finite value) and summary.json (final metrics = the last record)."""
    path.mkdir(parents=True)
    data = {"name": dataset, **({"mu": mu, "sigma": 0.2} if dataset == "gaussian" else {}),
            **({"modes": 8, "radius": 2.0} if dataset == "mog" else {})}
    steps = [i * log_every for i in range(len(next(iter(series.values()))))]
    cfg = {"dataset": data, "method": {"name": method}, "gamma": gamma, "seed": seed,
           "steps": steps[-1], "log_every": log_every, "batch_size": 128,
           "optim": {"name": "sgd", "lr": 1e-3}, "eta": 1e-3}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    records = [{"step": s, **{k: v[i] for k, v in series.items()}} for i, s in enumerate(steps)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = {"status": status, "steps_done": steps[-1], "wall_time_s": wall_time_s,
               "diverged_at": steps[-1] if status == "diverged" else None, "method": method,
               "gamma": gamma, "seed": seed,
               "metrics": {k: v for k, v in records[-1].items() if k != "step"}}
    if step_time_ms is not None:
        summary["step_time_ms"] = step_time_ms
    (path / "summary.json").write_text(json.dumps(summary))


def write_phase(path: Path, method: str, mu: float, lrs, gammas, classes, bound) -> None:
    path.mkdir(parents=True)
    (path / "phase.json").write_text(json.dumps({
        "method": method, "dataset": {"name": "gaussian", "mu": mu, "sigma": 0.2},
        "lrs": lrs, "gammas": gammas, "classes": classes, "steps": 1000, "tol": 0.01,
        "diverge_factor": 10.0, "lemma4": {"at_grid_gammas": bound, "agreement": 1.0},
        "timings": {"grid_s": 2.0, "boundary_s": 0.5}}))
