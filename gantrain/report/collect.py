"""Find run directories under a folder, read them, and group them into settings.

A run directory is one that holds ``summary.json``, ``spectrum.json``, ``phase.json``,
``config.yaml``, ``metrics.jsonl`` or a ``.hydra/`` folder (a Hydra job that may have failed before
writing anything). Folders of such folders are searched at any depth. Runs are grouped into sections
(training runs by dataset, spectra, phase diagrams) and, within a section, into settings: runs whose
configs are equal once ``seed`` (and keys that do not change a trajectory) are removed.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from gantrain.jsonl import read_jsonl

# Keys that make no setting: the seed (runs differing only in it are averaged) and bookkeeping.
IGNORED_KEYS = {"seed", "progress", "resume", "checkpoint_every"}
IGNORED_PREFIXES = ("logger.",)
SKIP_DIRS = {"wandb", "__pycache__", "node_modules"}   # (run directories are never entered)
MARKERS = ("summary.json", "spectrum.json", "phase.json", "config.yaml", "metrics.jsonl")

# The method's own keys: they make the lines of a figure; all other varying keys make its panels
# (the step size too is a line: the Numerics supplement's Figs. 12-13 draw a line per lr).
METHOD_KEYS = ("method.name", "gamma", "eta")
# Column order of varying keys (the rest follow alphabetically).
KEY_ORDER = ("dataset.name", "dataset.mu", "dataset.sigma", "dataset.dim", "dataset.init_offset",
             "dataset.radius", "dataset.modes", "dataset.std", "dataset.resolution", "arch.name",
             "loss.name", "optim.name", "eta", "optim.lr", "batch_size", "steps",
             "method.name", "gamma")
PRETTY = {"method.name": "method", "gamma": "γ", "eta": "η", "optim.lr": "lr", "dataset.mu": "μ",
          "dataset.sigma": "σ", "dataset.dim": "n", "dataset.radius": "r", "dataset.modes": "modes",
          "dataset.std": "mode std", "batch_size": "batch", "dataset.name": "dataset",
          "dataset.resolution": "resolution"}


def method_label(method: str) -> str:
    """The method's name, with what it is where the name alone is ambiguous (the rule's ``note``:
    e.g. the Numerics of GANs' "smoothing optimizer" is one rule in its text, another in its code)."""
    from gantrain.rules import RULES

    rule = RULES.get(method)
    note = rule.note if rule is not None else ""
    return f"{method} ({note})" if note else method


def method_order() -> list[str]:
    """Every method, in the registry's order (the figures' and reports' order)."""
    from gantrain.rules import RULES

    return list(RULES)


# --- values ----------------------------------------------------------------------------------
def freeze(v: Any) -> Any:
    """A hashable, comparable form of a config value (lists become tuples)."""
    if isinstance(v, (list, tuple)):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), freeze(x)) for k, x in v.items()))
    return v


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = freeze(v)
    return out


def fmt_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return str(v)


def value_sort_key(v: Any) -> tuple:
    if v is None:
        return (0, 0.0, "")
    if isinstance(v, bool):
        return (1, float(v), "")
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    return (2, 0.0, fmt_value(v))


def natural_key(name: str) -> tuple:
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t)


def pretty_key(key: str) -> str:
    if key in PRETTY:
        return PRETTY[key]
    return key.split(".")[0] if key.endswith(".name") and key.count(".") == 1 else key


def finite(x: Any) -> float | None:
    """``x`` as a float when it is a finite number, else None (null, NaN, strings, bools)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# --- runs ------------------------------------------------------------------------------------
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


# --- settings and sections --------------------------------------------------------------------
def setting_items(run: Run) -> tuple:
    return tuple(sorted((k, v) for k, v in run.config.items()
                        if k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES)))


def order_keys(keys: Iterable[str]) -> list[str]:
    rank = {k: i for i, k in enumerate(KEY_ORDER)}
    return sorted(keys, key=lambda k: (rank.get(k, len(KEY_ORDER)), k))


@dataclass
class Setting:
    values: dict[str, Any]         # the section's varying keys -> this setting's values
    runs: list[Run]
    method: str

    def value(self, key: str) -> Any:
        return self.values.get(key)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)


@dataclass
class Section:
    kind: str                      # "train", "spectrum", "phase"
    dataset: str
    runs: list[Run]
    varying: list[str]             # keys shown as columns (method.name always first of the method keys)
    aliases: dict[str, str]        # varying key left out -> the shown key it always equals
    fixed: dict[str, Any]          # constant keys worth stating once
    settings: list[Setting]

    @property
    def title(self) -> str:
        return {"train": self.dataset, "spectrum": f"spectra ({self.dataset})",
                "phase": f"phase diagrams ({self.dataset})"}[self.kind]

    @property
    def context_keys(self) -> list[str]:
        """Varying keys that are not the method's: one figure panel per combination."""
        return [k for k in self.varying if k not in METHOD_KEYS and not k.startswith("method.")]

    @property
    def method_keys(self) -> list[str]:
        return [k for k in self.varying if k in METHOD_KEYS or k.startswith("method.")]

    def context(self, s: Setting) -> tuple:
        return tuple(s.values.get(k) for k in self.context_keys)

    def context_label(self, ctx: tuple, sep: str = ", ") -> str:
        return sep.join(f"{pretty_key(k)} = {fmt_value(v)}" for k, v in zip(self.context_keys, ctx))

    def panel_title(self, ctx: tuple) -> str:
        """A figure column's title: its context, or the section's fixed game settings."""
        if self.context_keys:
            return self.context_label(ctx)
        fixed = [f"{pretty_key(k)} = {fmt_value(self.fixed[k])}" for k in PANEL_FIXED
                 if k in self.fixed]
        return ", ".join([self.dataset] + fixed)

    def line_label(self, s: Setting) -> str:
        """The method, with its varying parameters (γ, method.*) when they vary."""
        extra = [f"{pretty_key(k)}={fmt_value(s.values.get(k))}" for k in self.method_keys
                 if k != "method.name" and k in s.values]
        return ", ".join([method_label(s.method)] + extra)

    def by_context(self) -> list[tuple[tuple, list[Setting]]]:
        groups: dict[tuple, list[Setting]] = {}
        for s in self.settings:
            groups.setdefault(self.context(s), []).append(s)
        return list(groups.items())


PANEL_FIXED = ("dataset.mu", "dataset.sigma", "dataset.radius", "dataset.resolution", "gamma",
               "eta")
FIXED_SHOWN = ("dataset.mu", "dataset.sigma", "dataset.dim", "dataset.radius", "dataset.modes",
               "dataset.std", "dataset.resolution", "arch.name", "loss.name", "optim.name",
               "method.name", "gamma", "eta", "batch_size", "steps")


def make_section(kind: str, dataset: str, runs: list[Run]) -> Section:
    keys = set().union(*(r.config for r in runs)) - IGNORED_KEYS
    keys = {k for k in keys if not k.startswith(IGNORED_PREFIXES)}
    varying, fixed = [], {}
    for k in order_keys(keys):
        values = {r.config[k] for r in runs if k in r.config}
        if len(values) > 1:
            varying.append(k)
        elif values and k in FIXED_SHOWN:
            fixed[k] = next(iter(values))
    # A key that equals a shown key in every run (optim.lr follows eta) is left out.
    aliases: dict[str, str] = {}
    shown: list[str] = []
    for k in varying:
        same = next((a for a in shown if all(r.config.get(a, _MISSING) == r.config.get(k, _MISSING)
                                             for r in runs)), None)
        if same is not None:
            aliases[k] = same
        else:
            shown.append(k)
    if "method.name" not in shown:      # the method is always a column
        shown.append("method.name")
        fixed.pop("method.name", None)
    shown = order_keys(shown)
    groups: dict[tuple, list[Run]] = {}
    for r in runs:
        groups.setdefault(setting_items(r), []).append(r)
    settings = []
    for members in groups.values():
        members.sort(key=lambda r: (value_sort_key(r.seed), natural_key(r.rel)))
        first = members[0]
        values = {k: first.config[k] for k in shown if k in first.config}
        values["method.name"] = first.method
        settings.append(Setting(values=values, runs=members, method=first.method))
    section = Section(kind=kind, dataset=dataset, runs=runs, varying=shown, aliases=aliases,
                      fixed=fixed, settings=settings)
    morder = {m: i for i, m in enumerate(method_order())}
    section.settings.sort(key=lambda s: (
        tuple(value_sort_key(v) for v in section.context(s)),
        morder.get(s.method, len(morder)), s.method,
        tuple(value_sort_key(s.values.get(k)) for k in section.method_keys)))
    return section


_MISSING = object()


def sections(runs: list[Run]) -> list[Section]:
    """Training runs by dataset (gaussian, mog, image datasets, unknown), then spectra, then phase."""
    order = {"gaussian": 0, "mog": 1, "unknown": 9}
    kinds = {"train": 0, "spectrum": 1, "phase": 2}
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.kind, r.dataset), []).append(r)
    keys = sorted(groups, key=lambda kd: (kinds[kd[0]], order.get(kd[1], 5), kd[1]))
    return [make_section(k, d, groups[(k, d)]) for k, d in keys]


IMAGE_DATASETS = ("cifar10", "celeba", "imagenet", "fake_images")


def is_image_section(section: Section) -> bool:
    return section.kind == "train" and (section.dataset in IMAGE_DATASETS or any(
        r.sample_grids() for r in section.runs))
