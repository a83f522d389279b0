"""Find run directories under a folder and read each into a ``Run``.

A run directory is one that holds ``summary.json``, ``spectrum.json``, ``phase.json``,
``config.yaml``, ``metrics.jsonl`` or a ``.hydra/`` folder (a Hydra job that may have failed before
writing anything). Folders of such folders are searched at any depth.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gantrain.jsonl import read_jsonl
from gantrain.report.values import finite, flatten, freeze, natural_key

SKIP_DIRS = {"wandb", "__pycache__", "node_modules"}   # (run directories are never entered)
MARKERS = ("summary.json", "spectrum.json", "phase.json", "config.yaml", "metrics.jsonl")


@dataclass
class Run:
    path: Path
    rel: str
    kind: str                      # "train", "spectrum" or "phase"
    config: dict[str, Any]         # flattened, values frozen
    summary: dict | None = None
    spectrum: dict | None = None
    problem: str | None = None     # why something could not be read
    _records: list[dict] | None = field(default=None, repr=False)

    # identity
    @property
    def dataset(self) -> str:
        if "dataset.name" in self.config:
            return str(self.config["dataset.name"])
        if self.spectrum and self.spectrum.get("dataset"):
            return str(self.spectrum["dataset"])
        return "unknown"

    @property
    def method(self) -> str:
        for src in (self.config.get("method.name"), (self.summary or {}).get("method"),
                    (self.spectrum or {}).get("method")):
            if src:
                return str(src)
        return "?"

    @property
    def seed(self) -> Any:
        if "seed" in self.config:
            return self.config["seed"]
        return (self.summary or {}).get("seed")

    # outcome
    @property
    def status(self) -> str:
        """completed | diverged | failed (anything else a training run can end as)."""
        if self.kind != "train":
            return "analysed" if (self.spectrum is not None or self.kind == "phase") else "failed"
        s = (self.summary or {}).get("status")
        return s if s in ("completed", "diverged") else "failed"

    def describe(self) -> str:
        """What became of the run, in a few words: 'completed', 'diverged at 131', 'failed: ...'."""
        if self.kind == "spectrum" and self.spectrum is None:
            return "failed (no spectrum.json)" + (f": {self.problem}" if self.problem else "")
        if self.kind != "train":
            return "analysed"
        if self.summary is None:
            last = self.last_step()
            extra = f"; last logged step {last}" if last is not None else ""
            return f"failed (no summary{extra})" + (f": {self.problem}" if self.problem else "")
        s = self.summary.get("status")
        if s == "completed":
            return "completed"
        if s == "diverged":
            at = self.summary.get("diverged_at", self.summary.get("steps_done"))
            return f"diverged at {at}"
        if s == "preempted":   # stopped by a signal with a checkpoint; rerunning resumes it
            return f"preempted at {self.summary.get('steps_done')} (resumable)"
        err = self.summary.get("error")
        if s == "failed":
            at = self.summary.get("steps_done")
            where = f" at step {at}" if finite(at) is not None else ""
            return f"failed{where}: {_short(err)}" if err else f"failed{where}"
        return f"unknown status {s!r}"

    @property
    def diverged_at(self) -> int | None:
        if self.status != "diverged":
            return None
        at = self.summary.get("diverged_at", self.summary.get("steps_done"))
        return int(at) if finite(at) is not None else None

    @property
    def final(self) -> dict:
        m = (self.summary or {}).get("metrics")
        return m if isinstance(m, dict) else {}

    # records
    @property
    def records(self) -> list[dict]:
        if self._records is None:
            self._records = read_jsonl(self.path / "metrics.jsonl")
        return self._records

    def last_step(self) -> int | None:
        steps = [r["step"] for r in self.records if finite(r.get("step")) is not None]
        return int(max(steps)) if steps else None

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of a logged metric, non-finite values and missing ones left out."""
        pts = sorted((float(r["step"]), finite(r.get(key))) for r in self.records
                     if finite(r.get("step")) is not None)
        pts = [(s, v) for s, v in pts if v is not None]
        if not pts:
            return np.zeros(0), np.zeros(0)
        a = np.array(pts, dtype=float)
        return a[:, 0], a[:, 1]

    def images(self) -> dict[int, Path]:
        """MoG scatter images by step (images/samples_step_XXXXXX.png)."""
        return _by_step(self.path / "images", r"samples_step_(\d+)\.png")

    def sample_grids(self) -> dict[int, Path]:
        """Image-GAN sample grids by step (samples/step_XXXXXX.png; the EMA's are left out)."""
        return _by_step(self.path / "samples", r"step_(\d+)\.png")


def _by_step(folder: Path, pattern: str) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    out = {}
    for p in folder.iterdir():
        m = re.fullmatch(pattern, p.name)
        if m and p.is_file():
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def _short(text: Any, n: int = 80) -> str:
    text = str(text).splitlines()[0] if str(text) else ""
    return text if len(text) <= n else text[: n - 1] + "…"


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    if not path.is_file():
        return None, None
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError, UnicodeDecodeError) as e:
        return None, f"unreadable {path.name} ({type(e).__name__})"
    return (obj, None) if isinstance(obj, dict) else (None, f"unreadable {path.name}")


def _read_config(path: Path) -> dict | None:
    """A YAML config as a plain dict, interpolations resolved where they can be."""
    if not path.is_file():
        return None
    from omegaconf import OmegaConf
    try:
        conf = OmegaConf.load(path)
    except Exception:  # noqa: BLE001 - a damaged file is reported as a missing config
        return None
    try:
        obj = OmegaConf.to_container(conf, resolve=True)
    except Exception:  # noqa: BLE001 - an interpolation that cannot be resolved here
        obj = OmegaConf.to_container(conf, resolve=False)
    return obj if isinstance(obj, dict) else None


def _overrides_config(path: Path) -> dict:
    """Hydra's overrides.yaml (``key=value`` lines) as a flat config: the last resort."""
    if not path.is_file():
        return {}
    import yaml
    try:
        items = yaml.safe_load(path.read_text()) or []
    except Exception:  # noqa: BLE001
        return {}
    out = {}
    for item in items if isinstance(items, list) else []:
        key, sep, value = str(item).lstrip("+~").partition("=")
        if not sep:
            continue
        try:
            value = yaml.safe_load(value)
        except Exception:  # noqa: BLE001
            pass
        out[{"method": "method.name", "dataset": "dataset.name", "arch": "arch.name",
             "loss": "loss.name", "optim": "optim.name"}.get(key, key)] = freeze(value)
    return out


def _job_name(run_dir: Path) -> str | None:
    hydra = _read_config(run_dir / ".hydra" / "hydra.yaml")
    try:
        return str(hydra["hydra"]["job"]["name"])
    except (TypeError, KeyError):
        return None


def load_run(path: Path, root: Path) -> Run:
    rel = str(path.relative_to(root)) if path != root else path.name
    summary, p1 = _read_json(path / "summary.json")
    spectrum, p2 = _read_json(path / "spectrum.json")
    cfg = _read_config(path / "config.yaml") or _read_config(path / ".hydra" / "config.yaml")
    config = flatten(cfg) if cfg is not None else _overrides_config(path / ".hydra" / "overrides.yaml")
    if spectrum is not None or (path / "spectrum.json").exists():
        kind = "spectrum"
    elif (path / "phase.json").exists():
        kind = "phase"
    elif (summary is None and not (path / "metrics.jsonl").exists()
          and (_job_name(path) == "gantrain-analyze" or "phase.steps" in config)):
        kind = "spectrum"          # a gantrain-analyze job that failed before writing anything
    else:
        kind = "train"
    if spectrum is not None:       # what the analysis itself says wins over a missing config
        config.setdefault("method.name", spectrum.get("method"))
        config.setdefault("gamma", spectrum.get("gamma"))
        config.setdefault("optim.lr", spectrum.get("lr"))
        if spectrum.get("dataset"):
            config.setdefault("dataset.name", spectrum["dataset"])
    elif summary is not None:
        for key, skey in (("method.name", "method"), ("gamma", "gamma"), ("eta", "eta"),
                          ("seed", "seed")):
            if skey in summary:
                config.setdefault(key, freeze(summary[skey]))
    return Run(path=path, rel=rel, kind=kind, config=config, summary=summary, spectrum=spectrum,
               problem=p1 or p2)


def is_run_dir(path: Path) -> bool:
    return any((path / m).is_file() for m in MARKERS) or (path / ".hydra").is_dir()


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories at or under ``root``, in natural order (job 2 before job 10)."""
    if is_run_dir(root):
        return [root]
    out: list[Path] = []
    try:
        children = sorted((c for c in root.iterdir() if c.is_dir() and not c.is_symlink()),
                          key=lambda c: natural_key(c.name))
    except OSError:
        return out
    for child in children:
        if child.name in SKIP_DIRS or child.name.startswith("."):
            continue
        out += find_run_dirs(child)
    return out


def collect(root: Path) -> list[Run]:
    root = Path(root)
    return [load_run(p, root) for p in find_run_dirs(root)]
