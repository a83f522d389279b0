"""The zoo's runs read back: the game of each run, and per (game, rule) a ``Cell`` of what its seeds
measured (final values, the first step 10× closer to the equilibrium or with every mode, step
time and its ratio to SimGD's); the phase diagrams summarised in a few numbers."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gantrain.report.checks import reach_step
from gantrain.report.collect import Run, finite, fmt_value, natural_key
from gantrain.report.tables import Stat, stat
from gantrain.report.zoo.plan import uses_gamma
from gantrain.rules import BASELINE

DIST_KEYS = ("dist_equilibrium",)
MOG_KEYS = ("modes_covered", "high_quality_fraction")


@dataclass(frozen=True)
class Game:
    """A game as the runs' configs name it."""
    dataset: str
    mu: float | None = None      # gaussian
    radius: float | None = None  # mog

    @property
    def label(self) -> str:
        if self.dataset == "gaussian":
            return f"Gaussian μ = {self.mu:g}"
        if self.dataset == "dirac":
            return "DiracGAN"
        if self.dataset == "mog":
            return f"MoG r = {self.radius:g}" if self.radius is not None else "MoG"
        return self.dataset

    @property
    def key(self) -> str:
        """A file- and CSV-friendly name: gaussian_mu2, dirac, mog_r2."""
        if self.dataset == "gaussian":
            return f"gaussian_mu{self.mu:g}"
        if self.dataset == "mog" and self.radius is not None:
            return f"mog_r{self.radius:g}"
        return self.dataset

    def sort_key(self) -> tuple:
        rank = {"gaussian": 0, "dirac": 1, "mog": 2}.get(self.dataset, 3)
        return (rank, self.dataset, self.mu or 0.0, self.radius or 0.0)


def game_of(run: Run) -> Game:
    """The run's game, from its config (or, for a run refused before it wrote one, the zoo_game
    its summary.json records)."""
    c = run.config
    key = (run.summary or {}).get("zoo_game")
    if "dataset.name" not in c and isinstance(key, str):
        if key.startswith("gaussian_mu"):
            return Game("gaussian", mu=float(key.removeprefix("gaussian_mu")))
        if key.startswith("mog_r"):
            return Game("mog", radius=float(key.removeprefix("mog_r")))
        return Game(key)
    if run.dataset == "gaussian":
        return Game("gaussian", mu=finite(c.get("dataset.mu")))
    if run.dataset == "mog":
        return Game("mog", radius=finite(c.get("dataset.radius")))
    return Game(run.dataset)


def first_at_least(run: Run, key: str, target: float) -> int | None:
    """First logged step at which ``key`` ≥ ``target`` (MoG: every mode covered)."""
    steps, values = run.series(key)
    return next((int(s) for s, v in zip(steps, values) if v >= target), None)


def ten_times_closer(run: Run) -> int | None:
    """First logged step with dist_equilibrium ≤ (its step-0 value) / 10 (gantrain-report's)."""
    return reach_step(run, "dist_equilibrium")[1]


def step_time_ms(run: Run) -> tuple[float | None, bool]:
    """(mean ms per update, exact): summary's step_time_ms, else wall_time_s / steps_done (which
    also counts logging and evaluation; exact = False)."""
    s = run.summary or {}
    t = finite(s.get("step_time_ms"))
    if t is not None:
        return t, True
    wall, steps = finite(s.get("wall_time_s")), finite(s.get("steps_done"))
    if wall is not None and steps:
        return 1e3 * wall / steps, False
    return None, False


@dataclass
class Cell:
    """One (game, method): its seeds and what they measured."""
    game: Game
    method: str
    runs: list[Run]
    gamma: float | None = None                       # None: the rule takes no γ
    completed: int = 0
    diverged: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)   # what became of runs that did not complete
    final: dict[str, Stat] = field(default_factory=dict)
    first: list[int | None] = field(default_factory=list)   # per curve run: 10× / all-modes step
    horizon: int | None = None
    step_ms: Stat = field(default_factory=lambda: Stat(None, None, 0))
    step_exact: bool = True
    ratio: float | None = None                       # step time / SimGD's on this game


def kind_of(cells: list[Cell]) -> str:
    """"distance" (a known equilibrium), "modes" (MoG) or "other"."""
    runs = [r for c in cells for r in c.runs]
    if any("dist_equilibrium" in r.final or len(r.series("dist_equilibrium")[0]) for r in runs):
        return "distance"
    if any("modes_covered" in r.final for r in runs):
        return "modes"
    return "other"


def method_order(method: str) -> tuple[bool, str]:
    """Sort key of the rules in tables and figures: the baseline (SimGD) first, then by name."""
    return (method != BASELINE, method)


def make_cells(runs: list[Run]) -> dict[Game, list[Cell]]:
    """Training runs by game, then by method (methods in name order, SimGD first)."""
    groups: dict[Game, dict[str, list[Run]]] = {}
    for r in runs:
        if r.kind == "train":
            groups.setdefault(game_of(r), {}).setdefault(r.method, []).append(r)
    out: dict[Game, list[Cell]] = {}
    for game in sorted(groups, key=Game.sort_key):
        cells = []
        for method in sorted(groups[game], key=method_order):
            members = sorted(groups[game][method], key=lambda r: (str(r.seed), natural_key(r.rel)))
            cells.append(Cell(game, method, members))
        kind = kind_of(cells)
        for c in cells:
            fill(c, kind)
        base = next((c for c in cells if c.method == BASELINE), None)
        for c in cells:
            if base is not None and base.step_ms.mean and c.step_ms.mean is not None:
                c.ratio = c.step_ms.mean / base.step_ms.mean
        out[game] = cells
    return out


def fill(cell: Cell, kind: str) -> None:
    """Fill the cell's counts, final values, first steps and step time from its runs."""
    runs = cell.runs
    done = [r for r in runs if r.status == "completed"]
    curves = [r for r in runs if r.status in ("completed", "diverged")]
    cell.completed = len(done)
    cell.diverged = sum(r.status == "diverged" for r in runs)
    cell.failed = len(runs) - cell.completed - cell.diverged
    cell.notes = [(f"seed {fmt_value(r.seed)}: " if len(runs) > 1 else "") + r.describe()
                  for r in runs if r.status != "completed"]
    gammas = {finite(r.config.get("gamma")) for r in runs} - {None}
    cell.gamma = (next(iter(gammas)) if len(gammas) == 1 else None) if uses_gamma(cell.method) \
        else None
    keys = DIST_KEYS if kind == "distance" else MOG_KEYS if kind == "modes" else ()
    cell.final = {k: stat(r.final.get(k) for r in done) for k in keys}
    if kind == "distance":
        cell.first = [ten_times_closer(r) for r in curves]
    elif kind == "modes":
        cell.first = [first_at_least(r, "modes_covered", _modes(r)) for r in curves]
    cell.horizon = max((r.last_step() or 0 for r in curves), default=None) if curves else None
    times = [step_time_ms(r) for r in curves]
    cell.step_ms = stat(t for t, _ in times)
    cell.step_exact = all(exact for t, exact in times if t is not None)


def _modes(run: Run) -> int:
    n = finite(run.config.get("dataset.modes"))
    return int(n) if n else 8


# --- phase diagrams ------------------------------------------------------------------------------
def read_phases(root: Path) -> dict[tuple[str, float], dict]:
    """(method, μ) -> phase.json's content, or {"error": ...} from a diagram that failed."""
    out: dict[tuple[str, float], dict] = {}
    for path in sorted(Path(root).rglob("phase.json")) + sorted(Path(root).rglob("error.json")):
        if (path.name == "error.json" and (path.parent / "phase.json").is_file()):
            continue
        try:
            data = json.loads(path.read_text())
            mu = data["dataset"]["mu"] if path.name == "phase.json" else data["mu"]
            out[(str(data["method"]), float(mu))] = data
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def phase_summary(data: dict, gamma: float) -> dict[str, Any]:
    """The diagram in a few numbers: the share of grid points per class, and at the column of γ
    (the nearest on a log scale when the grid lacks it) the largest lr that converged, the largest
    that did not diverge, and Lemma 4's largest stable lr."""
    if "error" in data:
        return {"error": data["error"]}
    lrs, gammas, classes = data["lrs"], data["gammas"], data["classes"]
    cells = [c for row in classes for c in row]
    share = {k: sum(c == k for c in cells) / len(cells) for k in ("converged", "too_slow",
                                                                  "diverged")}
    j = int(np.argmin([abs(math.log(g / gamma)) for g in gammas])) if gamma > 0 else 0
    column = [row[j] for row in classes]
    conv = [lr for lr, c in zip(lrs, column) if c == "converged"]
    stable = [lr for lr, c in zip(lrs, column) if c != "diverged"]
    bound = data.get("lemma4", {}).get("at_grid_gammas") or [None] * len(gammas)
    return {"points": len(cells), "lrs": len(lrs), "gammas": len(gammas), "share": share,
            "gamma": gammas[j], "max_converged_lr": max(conv) if conv else None,
            "max_stable_lr_observed": max(stable) if stable else None,
            "lemma4_max_stable_lr": finite(bound[j]), "steps": data.get("steps"),
            "tol": data.get("tol"), "agreement": finite(data.get("lemma4", {}).get("agreement"))}
