"""Run records: ``metrics.jsonl`` (always) and wandb (offline by default, optional)."""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gantrain.checkpoint import atomic_write_text
from gantrain.jsonl import read_jsonl

log = logging.getLogger("gantrain")


def to_json_value(x: Any) -> Any:
    """Plain, strict JSON for any value, nested ones included: tensors and numpy values become
    numbers or lists, NaN/Inf become null (strict JSON has no NaN), mappings become objects with
    string keys, anything else unknown becomes its str(). Writing a record never fails on a
    value."""
    if x is None or isinstance(x, (bool, str, int)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):   # dict, DictConfig
        return {str(k): to_json_value(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)) or type(x).__name__ == "ListConfig":
        return [to_json_value(v) for v in x]
    if hasattr(x, "tolist"):     # torch.Tensor, numpy arrays and scalars: Python numbers or lists
        try:
            return to_json_value(x.tolist())
        except Exception:
            pass
    if hasattr(x, "item"):
        try:
            return to_json_value(x.item())
        except Exception:
            pass
    if isinstance(x, complex):
        return [to_json_value(x.real), to_json_value(x.imag)]
    return str(x)


def dumps(obj: Any, **kwargs) -> str:
    return json.dumps(to_json_value(obj), allow_nan=False, **kwargs)


def write_json(path: Path, obj: dict) -> None:
    """Atomically; an OSError names ``path``."""
    atomic_write_text(path, dumps(obj, indent=2) + "\n")


class MetricsFile:
    """Append-only JSON lines, one object per logged step."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled   # False on the processes other than rank 0: they write nothing

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (written after the checkpoint a resume starts from)."""
        if not self.enabled or not self.path.exists():
            return
        kept = [r for r in read_jsonl(self.path)
                if isinstance(r.get("step"), int) and r["step"] <= step]
        atomic_write_text(self.path, "".join(dumps(r) + "\n" for r in kept))

    def reset(self) -> None:
        if self.enabled:
            self.path.unlink(missing_ok=True)

    def append(self, record: dict) -> None:
        if not self.enabled:
            return
        line = dumps(record) + "\n"
        try:
            with self.path.open("a") as f:
                f.write(line)
        except OSError as e:
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from e

    def read(self) -> list[dict]:
        return read_jsonl(self.path)


def image_key(stem: str) -> str:
    """The wandb key of a picture written at a step: its name without ``_step_<N>``; the image
    games' grids ``step_<N>`` / ``ema_step_<N>`` are ``samples`` / ``ema_samples``."""
    m = re.fullmatch(r"(?:(.*)_)?step_\d+", stem)
    if m is None:
        return stem
    if m.group(1) in (None, "ema"):
        return "samples" if m.group(1) is None else "ema_samples"
    return m.group(1)


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
        for p in images:   # one key per kind: samples_step_000100 -> images/samples
            data[f"images/{image_key(Path(p).stem)}"] = wandb.Image(str(p))
        self.run.log(data, step=step)

    def finish(self, exit_code: int = 0, preempting: bool = False) -> None:
        if self.run is not None:
            if preempting and hasattr(self.run, "mark_preempting"):   # wandb shows "preempted"
                self.run.mark_preempting()
            self.run.finish(exit_code=exit_code)
            self.run = None
