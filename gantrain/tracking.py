"""Run records: ``metrics.jsonl`` (always) and wandb (offline by default, optional)."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from gantrain.checkpoint import atomic_write_text
from gantrain.jsonl import read_jsonl

log = logging.getLogger("gantrain")


def to_json_value(x: Any) -> Any:
    """Plain JSON: tensors become numbers, NaN/Inf become null (strict JSON has no NaN)."""
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(path: Path, obj: dict) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


class MetricsFile:
    """Append-only JSON lines, one object per logged step."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled   # False on the processes other than rank 0: they write nothing

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (written after the checkpoint a resume starts from)."""
        if not self.enabled or not self.path.exists():
            return
        kept = [r for r in read_jsonl(self.path) if r["step"] <= step]
        atomic_write_text(self.path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in kept))

    def reset(self) -> None:
        if self.enabled:
            self.path.unlink(missing_ok=True)

    def append(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")

    def read(self) -> list[dict]:
        return read_jsonl(self.path)


class WandbLogger:
    """Thin wrapper: never lets wandb stop a run, and always finishes the wandb run."""

    def __init__(self, cfg, run_dir: Path, config: dict, name: str, resume_id: str | None = None):
        self.run = None
        if cfg.mode == "disabled":
            return
        try:
            import wandb

            self.run = wandb.init(mode=cfg.mode, project=cfg.project, entity=cfg.entity,
                                  group=cfg.group, tags=list(cfg.tags), name=name, config=config,
                                  dir=str(run_dir), id=resume_id, resume="allow" if resume_id else None,
                                  reinit="finish_previous")
        except Exception as e:  # a logging backend must not cost the user a run
            log.warning("wandb is off for this run (%s: %s); local files are written as usual",
                        type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            self.run = None

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run is not None else None

    def log(self, record: dict, step: int, images: list[Path] = ()) -> None:
        if self.run is None:
            return
        import wandb

        # Scalars only: lists (e.g. the top eigenvalues) stay in metrics.jsonl, their picture goes here.
        data = {k: v for k, v in record.items()
                if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}
        for p in images:
            data[f"images/{Path(p).stem.split('_step_')[0]}"] = wandb.Image(str(p))
        self.run.log(data, step=step)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
