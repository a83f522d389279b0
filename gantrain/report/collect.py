"""Group runs into sections and settings, and name what the report shows.

Runs (found and read by ``gantrain.report.runs``; ``collect`` reads every run under a folder) are
grouped into sections (training runs by dataset, spectra, phase diagrams) and, within a section,
into settings: runs whose configs are equal once ``seed`` (and keys that do not change a
trajectory) are removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from gantrain.report.runs import MARKERS, SKIP_DIRS, Run, collect, find_run_dirs, is_run_dir, load_run
from gantrain.report.values import finite, flatten, fmt_value, freeze, natural_key, value_sort_key

# Names other modules import from here (the runs and values moved out of this module).
__all__ = ["MARKERS", "SKIP_DIRS", "Run", "collect", "find_run_dirs", "is_run_dir", "load_run",
           "finite", "flatten", "fmt_value", "freeze", "natural_key", "value_sort_key"]

# Keys that make no setting: the seed (runs differing only in it are averaged) and bookkeeping.
IGNORED_KEYS = {"seed", "progress", "resume", "checkpoint_every"}
IGNORED_PREFIXES = ("logger.",)

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


# --- key names -------------------------------------------------------------------------------
def pretty_key(key: str) -> str:
    if key in PRETTY:
        return PRETTY[key]
    return key.split(".")[0] if key.endswith(".name") and key.count(".") == 1 else key


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


IMAGE_DATASETS = ("cifar10", "celeba", "imagenet", "fake_images", "digits", "stacked_digits")


def is_image_section(section: Section) -> bool:
    return section.kind == "train" and (section.dataset in IMAGE_DATASETS or any(
        r.sample_grids() for r in section.runs))
