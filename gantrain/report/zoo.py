"""The zoo (`make zoo`): every registered update rule on the Gaussian game (μ ∈ {2, 4, 6}), the
DiracGAN and the mixture of Gaussians, with each rule's stability phase diagram, in one report.

    python -m gantrain.report.zoo run DIR [--quick] [--jobs N] [--methods a,b] [--parts ...] [key=value ...]
    python -m gantrain.report.zoo report DIR --out OUT

The rules are ``sorted(gantrain.rules.RULES)`` read when ``run`` starts, so a rule added later joins
the zoo without an edit here. ``run`` trains every (game, rule, seed) as ``gantrain <overrides>``
would (the same composition, ``gantrain.train.train``; the command is in each run's command.txt) and
draws every (rule, μ) phase diagram as ``gantrain-analyze analysis.mode=phase ...`` would, in a pool
of worker processes, one torch thread each: on these tiny games a Hydra multirun's per-job start-up
costs more than the runs. A run that fails is recorded (summary.json / error.json) and the others go
on; finished runs are kept, so a rerun after adding a rule trains only that rule. ``report`` writes
summary.md (a table per game), table.csv, zoo.json, dynamics.png and stability.png.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gantrain.report.checks import reach_step
from gantrain.report.collect import Run, collect, finite, fmt_value, method_label, natural_key
from gantrain.report.tables import Stat, md_table, fmt_stat, num, stat

# Rules whose update has no γ (the phase diagram then needs one γ column). A rule class may say so
# itself with a boolean ``uses_gamma`` attribute, which wins over this list.
NO_GAMMA = ("simgd", "altgd", "extragradient", "optimistic", "cgd")
SEEDS = (0, 1, 2)

# The games: gantrain overrides of every run (full, and the QUICK=1 deltas). γ = 10 on the
# Gaussian game (JARE Fig. 5) and the MoG; the DiracGAN keeps its dataset option's η = 0.1, γ = 1
# and 2000 steps (conf/dataset/dirac.yaml).
GAMES: dict[str, list[str]] = {
    **{f"gaussian_mu{mu}": [f"experiment=gaussian_mu{mu}", "gamma=10", "steps=5000",
                            "log_every=50", "checkpoint_every=5000"] for mu in (2, 4, 6)},
    "dirac": ["dataset=dirac", "log_every=10", "checkpoint_every=2000"],
    "mog_r2": ["dataset=mog", "dataset.radius=2", "gamma=10", "steps=2000", "log_every=100",
               "checkpoint_every=2000", "eval.image_steps=[]"],
}
QUICK: dict[str, list[str]] = {
    **{f"gaussian_mu{mu}": ["steps=500", "checkpoint_every=500"] for mu in (2, 4, 6)},
    "dirac": ["steps=300", "checkpoint_every=300"],
    "mog_r2": ["steps=200", "log_every=50", "checkpoint_every=200"],
}
# The phase grid (docs/methods.md §5, Lemma 4): 12 step sizes × 8 γ, 1000 SGD steps per point.
PHASE = {"lrs": [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5],
         "gammas": [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0], "steps": 1000,
         "boundary_points": 40}
PHASE_QUICK = {"lrs": [1e-3, 1e-2, 0.1, 0.5], "gammas": [1.0, 10.0, 100.0], "steps": 200,
               "boundary_points": 12}
PHASE_MUS = (2, 4, 6)
PHASE_MUS_QUICK = (6,)   # QUICK: the μ where ConOpt leaves the equilibrium (JARE Fig. 5)
ZOO_GAMMA = 10.0       # the γ of the Gaussian zoo runs, and the no-γ rules' one phase column
PARTS = (*GAMES, "phase")


def rule_names() -> list[str]:
    from gantrain.rules import RULES
    return sorted(RULES)


def uses_gamma(method: str) -> bool:
    from gantrain.rules import RULES
    flag = getattr(RULES.get(method), "uses_gamma", None)
    return flag if isinstance(flag, bool) else method not in NO_GAMMA


# --- running the zoo -----------------------------------------------------------------------------
def _list(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:g}" for v in values) + "]"


def train_overrides(game: str, method: str, seed: int, quick: bool,
                    extra: Sequence[str] = ()) -> list[str]:
    return [*GAMES[game], *(QUICK[game] if quick else ()), f"method={method}", f"seed={seed}",
            "logger=none", "progress=false", *extra]


def phase_overrides(method: str, mu: float, grid: dict, gamma: float = ZOO_GAMMA,
                    extra: Sequence[str] = ()) -> list[str]:
    """The gantrain-analyze overrides of one diagram: the zoo's Gaussian game at μ (the training
    runs' preset), the γ grid only for rules that take a γ."""
    gammas = grid["gammas"] if uses_gamma(method) else [gamma]
    return ["analysis.mode=phase", f"experiment=gaussian_mu{mu:g}", f"method={method}",
            f"gamma={gamma:g}", f"phase.lrs={_list(grid['lrs'])}", f"phase.gammas={_list(gammas)}",
            f"phase.steps={grid['steps']}", f"phase.boundary_points={grid['boundary_points']}",
            "progress=false", "logger=none", *extra]


def _compose(name: str, overrides: Sequence[str]):
    from hydra import compose, initialize_config_dir

    from gantrain.cli import CONFIG_DIR
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def _first_line(e: BaseException) -> str:
    return (f"{type(e).__name__}: {e}".splitlines() or [type(e).__name__])[0]


@dataclass
class Job:
    kind: str              # "train" or "phase"
    game: str              # a GAMES key, or "phase"
    method: str
    label: str             # seed=<s> or mu=<μ>
    overrides: list[str]
    out: str
    threads: int = 0       # torch threads in the worker (0: leave as is)

    @property
    def command(self) -> str:
        prog = "gantrain" if self.kind == "train" else "gantrain-analyze"
        return " ".join([prog, *self.overrides, f"hydra.run.dir={self.out}"])


def run_job(job: Job) -> dict:
    """Worker: one training run or phase diagram, with its wall and CPU time; a failure is
    recorded, never raised."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = _run_job(job)
    return {**result, "wall_s": round(time.perf_counter() - wall, 3),
            "cpu_s": round(time.process_time() - cpu, 3)}


def _run_job(job: Job) -> dict:
    import torch

    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    if job.threads:
        torch.set_num_threads(job.threads)
    result = {"kind": job.kind, "game": job.game, "method": job.method, "label": job.label}
    if job.kind == "phase":
        return {**result, **_phase_job(job, out)}
    (out / "command.txt").write_text(job.command + "\n")
    from gantrain.errors import ConfigError
    from gantrain.rundir import RunDirBusy, RunWriteError
    from gantrain.train import train
    try:
        summary = train(_compose("train", job.overrides), out)
        return {**result, "status": summary.get("status"), "summary": summary}
    except ConfigError as e:      # refused before training: say so where the report looks
        if not isinstance(e, (RunDirBusy, RunWriteError)) and not (out / "summary.json").exists():
            from gantrain.tracking import write_json
            write_json(out / "summary.json", {
                "status": "failed", "steps_done": 0, "diverged_at": None, "wall_time_s": 0.0,
                "method": job.method, "error": f"ConfigError: {e}", "metrics": {},
                "zoo_game": job.game})
        return {**result, "status": "failed", "error": _first_line(e)}
    except Exception as e:  # noqa: BLE001 - train() wrote summary.json: failed
        return {**result, "status": "failed", "error": _first_line(e)}


def _phase_job(job: Job, out: Path) -> dict:
    done = out / "phase.json"
    command = out / "command.txt"
    if done.is_file() and command.is_file() and command.read_text().strip() == job.command:
        return {"status": "done before"}
    for stale in ("phase.json", "phase.png", "error.json"):
        (out / stale).unlink(missing_ok=True)
    command.write_text(job.command + "\n")
    try:
        from gantrain.analysis.phase import run_phase_diagram
        from gantrain.analyze import check_config

        cfg = _compose("analyze", job.overrides)
        check_config(cfg)
        run_phase_diagram(cfg, out)
        return {"status": "done"}
    except Exception as e:  # noqa: BLE001 - one rule's failure must not cost the other diagrams
        err = _first_line(e)
        (out / "error.json").write_text(json.dumps(
            {"method": job.method, "mu": float(job.label.removeprefix("mu=")), "error": err,
             "command": job.command}, indent=1) + "\n")
        return {"status": "failed", "error": err}


def plan(out: Path, methods: Sequence[str], parts: Sequence[str], quick: bool,
         extra: Sequence[str] = (), phase_extra: Sequence[str] = (), threads: int = 0,
         seeds: Sequence[int] | None = None) -> list[Job]:
    """Every job, the costly ones first (MoG, then the Gaussian game, the DiracGAN, the phase
    diagrams), so that a pool's workers finish together."""
    seeds = (SEEDS[:1] if quick else SEEDS) if seeds is None else seeds
    jobs = []
    for game in [g for g in ("mog_r2", "gaussian_mu2", "gaussian_mu4", "gaussian_mu6", "dirac")
                 if g in parts]:
        for m in methods:
            for s in seeds:
                jobs.append(Job("train", game, m, f"seed={s}",
                                train_overrides(game, m, s, quick, extra),
                                str(Path(out) / game / m / f"seed={s}"), threads))
    if "phase" in parts:
        grid = PHASE_QUICK if quick else PHASE
        for m in methods:
            for mu in (PHASE_MUS_QUICK if quick else PHASE_MUS):
                jobs.append(Job("phase", "phase", m, f"mu={mu:g}",
                                phase_overrides(m, mu, grid, extra=phase_extra),
                                str(Path(out) / "phase" / m / f"mu={mu:g}"), threads))
    return jobs


def run_all(jobs: list[Job], workers: int = 1) -> list[dict]:
    """Run the jobs (``workers`` processes; 1: in this process), one line per finished job."""
    t0 = time.perf_counter()
    results = []

    def report(r: dict) -> None:
        results.append(r)
        what = r["status"] + (f" ({r['error']})" if r.get("error") else "")
        if r["kind"] == "train" and r.get("summary"):
            m = r["summary"].get("metrics") or {}
            shown = [f"{k}={m[k]:.4g}" for k in ("dist_equilibrium", "modes_covered")
                     if isinstance(m.get(k), (int, float))]
            what += f" after {r['summary'].get('steps_done')} steps" + (
                f", {', '.join(shown)}" if shown else "")
        print(f"[{len(results)}/{len(jobs)} {time.perf_counter() - t0:6.0f} s] {r['game']} "
              f"{r['method']} {r['label']}: {what}", flush=True)

    if workers <= 1:
        for j in jobs:
            report(run_job(j))
        return results
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for fut in as_completed([pool.submit(run_job, j) for j in jobs]):
            report(fut.result())
    return results


# --- reading the runs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Game:
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
    c = run.config
    key = (run.summary or {}).get("zoo_game")   # a run refused before it wrote its config
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


DIST_KEYS = ("dist_equilibrium",)
MOG_KEYS = ("modes_covered", "high_quality_fraction")


def kind_of(cells: list[Cell]) -> str:
    """"distance" (a known equilibrium), "modes" (MoG) or "other"."""
    runs = [r for c in cells for r in c.runs]
    if any("dist_equilibrium" in r.final or len(r.series("dist_equilibrium")[0]) for r in runs):
        return "distance"
    if any("modes_covered" in r.final for r in runs):
        return "modes"
    return "other"


def make_cells(runs: list[Run]) -> dict[Game, list[Cell]]:
    """Training runs by game, then by method (methods in name order, SimGD first)."""
    groups: dict[Game, dict[str, list[Run]]] = {}
    for r in runs:
        if r.kind == "train":
            groups.setdefault(game_of(r), {}).setdefault(r.method, []).append(r)
    out: dict[Game, list[Cell]] = {}
    for game in sorted(groups, key=Game.sort_key):
        cells = []
        for method in sorted(groups[game], key=lambda m: (m != "simgd", m)):
            members = sorted(groups[game][method], key=lambda r: (str(r.seed), natural_key(r.rel)))
            cells.append(Cell(game, method, members))
        kind = kind_of(cells)
        for c in cells:
            fill(c, kind)
        base = next((c for c in cells if c.method == "simgd"), None)
        for c in cells:
            if base is not None and base.step_ms.mean and c.step_ms.mean is not None:
                c.ratio = c.step_ms.mean / base.step_ms.mean
        out[game] = cells
    return out


def fill(cell: Cell, kind: str) -> None:
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


# --- phase results -------------------------------------------------------------------------------
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


# --- formatting ----------------------------------------------------------------------------------
def fmt_first(steps: list[int | None]) -> str:
    """Seeds' first steps: one value, the mean with its range, "never", or the reached share."""
    if not steps:
        return "—"
    got = [s for s in steps if s is not None]
    if not got:
        return "never"
    lo, hi = min(got), max(got)
    text = str(lo) if lo == hi else f"{statistics.fmean(got):.0f} ({lo}–{hi})"
    if len(got) < len(steps):
        return f"{len(got)}/{len(steps)} seeds: {text}; else never"
    return text


def _const(runs: list[Run], key: str) -> str:
    vals = sorted({r.config.get(key) for r in runs if key in r.config}, key=str)
    return ", ".join(fmt_value(v) for v in vals) if vals else "?"


def game_setting(game: Game, cells: list[Cell]) -> str:
    runs = [r for c in cells for r in c.runs]
    gammas = sorted({c.gamma for c in cells if c.gamma is not None})
    seeds = sorted({r.seed for r in runs if r.seed is not None}, key=str)
    parts = []
    if game.dataset == "gaussian":
        parts.append(f"μ = {game.mu:g}, σ = {_const(runs, 'dataset.sigma')}")
    elif game.dataset == "mog":
        parts.append(f"{_const(runs, 'dataset.modes')} modes, r = {_const(runs, 'dataset.radius')}, "
                     f"{_const(runs, 'arch.depth')}×{_const(runs, 'arch.width')} MLPs")
    parts.append(f"{_const(runs, 'optim.name')} η = {_const(runs, 'optim.lr')}, "
                 f"batch {_const(runs, 'batch_size')}, {_const(runs, 'steps')} steps (logged every "
                 f"{_const(runs, 'log_every')}), seeds {', '.join(fmt_value(s) for s in seeds)}")
    parts.append("γ = " + (", ".join(f"{g:g}" for g in gammas) if gammas else "—")
                 + " for every rule that takes one")
    return "; ".join(parts) + "."


def cell_row(cell: Cell, kind: str, with_phase: bool, phase: dict | None) -> list[str]:
    row = [method_label(cell.method), "—" if cell.gamma is None else f"{cell.gamma:g}",
           f"{cell.completed}/{len(cell.runs)}", str(cell.diverged)]
    if kind == "distance":
        row += [fmt_stat(cell.final["dist_equilibrium"], cell.completed), fmt_first(cell.first)]
    elif kind == "modes":
        row += [fmt_stat(cell.final["modes_covered"], cell.completed),
                fmt_stat(cell.final["high_quality_fraction"], cell.completed), fmt_first(cell.first)]
    approx = "" if cell.step_exact else "≈"
    row += [approx + fmt_stat(cell.step_ms, cell.step_ms.n) if cell.step_ms.n else "—",
            "—" if cell.ratio is None else f"{approx}{cell.ratio:.2f}×"]
    if with_phase:
        if phase is None:
            row += ["not run", "—", "—", "—"]
        elif "error" in phase:
            row += ["failed", "—", "—", "—"]
        else:
            s = phase["share"]
            row += [f"{100 * s['converged']:.0f}% / {100 * s['diverged']:.0f}%",
                    num(phase["max_converged_lr"]) if phase["max_converged_lr"] else "none",
                    num(phase["max_stable_lr_observed"]) if phase["max_stable_lr_observed"]
                    else "none", num(phase["lemma4_max_stable_lr"])]
    notes = list(cell.notes)
    if phase is not None and "error" in phase:
        notes.append(f"phase diagram failed: {phase['error']}")
    row.append("; ".join(notes))
    return row


def header(kind: str, with_phase: bool) -> list[str]:
    h = ["method", "γ", "completed", "diverged"]
    if kind == "distance":
        h += ["final ‖w − w*‖", "10× closer at"]
    elif kind == "modes":
        h += ["modes covered", "high-quality fraction", "all modes at"]
    h += ["step (ms)", "× SimGD"]
    if with_phase:
        h += ["phase: converged / diverged", "max lr converged at γ", "max lr not diverged at γ",
              "Lemma 4 bound at γ"]
    return h + ["notes"]


# --- figures -------------------------------------------------------------------------------------
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d", "8", "H")


def dynamics_figure(games: dict[Game, list[Cell]], path: Path) -> Path | None:
    """A panel per game: ‖w − w*‖ (log scale) or modes covered against iterations, a line per method
    (mean over its seeds; solid: rules with a γ, dashed: without; a marker per rule); ✕ marks a
    divergence."""
    from gantrain.plots import pyplot
    from gantrain.report.figures import aggregate, color

    panels = [(g, cells, kind_of(cells)) for g, cells in games.items()]
    panels = [p for p in panels if p[2] in ("distance", "modes")]
    if not panels:
        return None
    methods = sorted({c.method for _, cells, _ in panels for c in cells},
                     key=lambda m: (m != "simgd", m))
    plt = pyplot()
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.5 * rows + 0.9), dpi=110,
                             squeeze=False)
    handles = {}
    for ax, (game, cells, kind) in zip(axes.flat, panels):
        key = "dist_equilibrium" if kind == "distance" else "modes_covered"
        for c in cells:
            curves = [r for r in c.runs if r.status in ("completed", "diverged")]
            agg = aggregate([r.series(key) for r in curves])
            if agg is None:
                continue
            steps, mean, _, _, _ = agg
            if kind == "distance":
                mean = np.where(mean > 0, mean, np.nan)
            # Several rules coincide on these games: a marker per rule, at steps offset per rule,
            # keeps each one visible under the others.
            k = methods.index(c.method)
            every = max(len(steps) // 6, 1)
            line, = ax.plot(steps, mean, color=color(c.method), lw=1.3,
                            ls="-" if uses_gamma(c.method) else "--", label=c.method,
                            marker=MARKERS[k % len(MARKERS)], ms=5, fillstyle="none",
                            markevery=((k * every) // max(len(methods), 1) % every, every))
            handles.setdefault(c.method, line)
            for r in curves:
                if r.status == "diverged":
                    s, v = r.series(key)
                    if len(s):
                        ax.plot(s[-1], v[-1], "x", color=color(c.method), ms=7, mew=2)
        ax.set(title=game.label, xlabel="iteration",
               ylabel="‖w − w*‖" if kind == "distance" else "modes covered")
        if kind == "distance":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    ncol = min(len(handles), 8)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, fontsize=8,
               frameon=False)
    legend_rows = math.ceil(len(handles) / max(ncol, 1))
    fig.tight_layout(rect=(0, 0.05 * legend_rows / rows, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


STABILITY_MARKERS = {"max_converged_lr": ("o", 6, "full"), "max_stable_lr_observed": ("^", 7, "none"),
                     "lemma4_max_stable_lr": ("_", 14, "full")}


def stability_figure(phases: dict[tuple[str, float], dict], methods: list[str], mus: list[float],
                     gamma: float, path: Path) -> Path | None:
    """Per μ: each rule's largest lr that converged / did not diverge at γ, and Lemma 4's bound."""
    from matplotlib.lines import Line2D

    from gantrain.analysis.plots import save_figure
    from gantrain.plots import pyplot
    from gantrain.report.figures import color

    if not mus or not any((m, mu) in phases for m in methods for mu in mus):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(mus), 1, figsize=(max(5.0, 0.5 * len(methods) + 1.5),
                                                   2.6 * len(mus) + 0.8),
                             dpi=110, squeeze=False, sharex=True, sharey=True)
    x = np.arange(len(methods))
    for ax, mu in zip(axes[:, 0], mus):
        for i, m in enumerate(methods):
            data = phases.get((m, mu))
            if data is None:
                continue
            s = phase_summary(data, gamma)
            if "error" in s:
                ax.text(i, 0.02, "failed", rotation=90, ha="center", va="bottom", fontsize=7,
                        transform=ax.get_xaxis_transform())
                continue
            for key, (marker, ms, fill) in STABILITY_MARKERS.items():
                if s[key]:
                    ax.plot(i, s[key], marker, color="k" if key.startswith("lemma4") else color(m),
                            ms=ms, mew=2, fillstyle=fill)
        ax.set_xticks(x, methods, rotation=60, fontsize=8)
        ax.set(yscale="log", ylabel="step size η")
        ax.set_title(f"Gaussian μ = {mu:g}, γ = {gamma:g}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    labels = {"max_converged_lr": "largest lr converged",
              "max_stable_lr_observed": "largest lr not diverged",
              "lemma4_max_stable_lr": "Lemma 4 bound"}
    handles = [Line2D([], [], ls="", marker=mk, ms=ms, mew=2, fillstyle=fill, color="0.3",
                      label=labels[k]) for k, (mk, ms, fill) in STABILITY_MARKERS.items()]
    axes[0][0].legend(handles=handles, fontsize=7, loc="lower left")
    return save_figure(plt, fig, path, "")


# --- the report ----------------------------------------------------------------------------------
STEP_TIME_NOTE = (
    "Step time: the mean wall time of one update (`rule.train_step`) over the run "
    "(summary.json's `step_time_ms`; marked ≈ where a run lacks it and wall time / steps stands "
    "in, logging and evaluation included), mean ± std over seeds; × SimGD divides by SimGD's mean "
    "on the same game. On the Gaussian game and the DiracGAN the players have 2–4 parameters, so "
    "these times are Python and autograd overhead (a few kernel launches per backward pass), not "
    "arithmetic: they count the passes a rule makes, not what those passes would cost on a real "
    "network. The MoG rows (4×256 MLPs) are closer to that; benchmarks/results.md has the "
    "interleaved benchmark. `make zoo` runs 2 worker processes with one torch thread each, and "
    "the seeds of a rule ran at different times than SimGD's, on whatever else the machine was "
    "doing: expect ±10–20% noise (the ± is over seeds).")


def build_report(source: Path, out: Path) -> dict:
    """Read the zoo's runs and phase diagrams under ``source`` and write the report into ``out``."""
    source, out = Path(source), Path(out)
    runs = [r for r in collect(source) if r.kind == "train"]
    phases = read_phases(source)
    if not runs and not phases:
        raise FileNotFoundError(f"no zoo runs or phase diagrams under {source}")
    out.mkdir(parents=True, exist_ok=True)
    games = make_cells(runs)
    gauss = [r for g, cells in games.items() if g.dataset == "gaussian" for c in cells
             for r in c.runs]
    zoo_gamma = next(iter(sorted({finite(r.config.get("gamma")) for r in gauss
                                  if uses_gamma(r.method)} - {None})), ZOO_GAMMA)
    methods = sorted({c.method for cells in games.values() for c in cells} | {m for m, _ in phases},
                     key=lambda m: (m != "simgd", m))
    phase_mus = sorted({mu for _, mu in phases})

    files: dict[str, Path] = {}
    figs = {"dynamics.png": lambda p: dynamics_figure(games, p),
            "stability.png": lambda p: stability_figure(phases, methods, phase_mus, zoo_gamma, p)}
    skipped: dict[str, str] = {}
    for name, draw in figs.items():
        try:
            made = draw(out / name)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn costs only itself
            made, skipped[name] = None, f"{type(e).__name__}: {e}"
        if made:
            files[name] = made

    md = ["# The zoo: every update rule on three games", "",
          f"Runs read from `{source}`: {len(runs)} training runs, {len(phases)} phase diagrams. "
          f"Rules ({len(methods)}): " + ", ".join(f"`{m}`" for m in methods) + ". Rules without a "
          "γ: " + (", ".join(f"`{m}`" for m in methods if not uses_gamma(m)) or "none") + " (— in "
          "the γ column). Each rule with a γ runs at one γ per game, the one stated under its "
          "table.", ""]
    md += ["Columns: *completed* = seeds that finished / seeds run, *diverged* = seeds whose run "
           "ended `diverged` (a non-finite value or the parameter norm past "
           "divergence.max_param_norm; they are left out of the means). Final values: mean ± "
           "sample std (n − 1) over the completed seeds. *10× closer at*: the first logged "
           "iteration at which ‖w − w*‖ ≤ its step-0 value / 10, per seed (a diverged seed counts "
           "if it got there first), \"never\" when not within the run's steps; *all modes at*: the "
           "first logged iteration with every mode covered.", ""]
    csv_rows: list[dict] = []
    for game, cells in games.items():
        kind = kind_of(cells)
        with_phase = game.dataset == "gaussian" and any(
            (c.method, game.mu) in phases for c in cells)
        md += [f"## {game.label}", "", game_setting(game, cells), ""]
        body = []
        for c in cells:
            ph = phase_summary(phases[(c.method, game.mu)], zoo_gamma) \
                if with_phase and (c.method, game.mu) in phases else None
            body.append(cell_row(c, kind, with_phase, ph))
            csv_rows.append(csv_row(game, c, ph))
        md += [md_table(header(kind, with_phase), body), ""]
        if with_phase:
            md += [phase_note(phases, game.mu, zoo_gamma), ""]
    md += ["## Figures", ""]
    if "dynamics.png" in files:
        md.append("- [dynamics.png](dynamics.png): ‖w − w*‖ (Gaussian, DiracGAN; log scale) and "
                  "modes covered (MoG) against iterations, one line per rule (mean over seeds; "
                  "solid: rules with a γ, dashed: without), ✕ where a seed diverged.")
    if "stability.png" in files:
        md.append(f"- [stability.png](stability.png): from the phase diagrams, per μ and rule at "
                  f"γ = {zoo_gamma:g}: the largest step size that converged (●), that did not "
                  f"diverge (△), and Lemma 4's bound (—).")
    for name, why in skipped.items():
        md.append(f"- {name} not made: {why}")
    md += ["", "## Step time", "", STEP_TIME_NOTE, ""]
    md += ["## Compute", "", compute_note(runs, phases, source), ""]
    (out / "summary.md").write_text("\n".join(md))
    files["summary.md"] = out / "summary.md"
    files["table.csv"] = write_csv(csv_rows, out / "table.csv")
    (out / "zoo.json").write_text(json.dumps({"source": str(source), "gamma_phase": zoo_gamma,
                                              "rows": csv_rows}, indent=1, default=str) + "\n")
    files["zoo.json"] = out / "zoo.json"
    return {"dir": out, "runs": len(runs), "phases": len(phases), "files": files,
            "games": games, "skipped": skipped}


def phase_note(phases: dict, mu: float, gamma: float) -> str:
    some = next((d for (m, m_mu), d in phases.items() if m_mu == mu and "error" not in d), None)
    if some is None:
        return "Every phase diagram at this μ failed."
    lrs = some["lrs"]
    g_methods = [d for (m, m_mu), d in phases.items() if m_mu == mu and "error" not in d
                 and uses_gamma(m)]
    gammas = g_methods[0]["gammas"] if g_methods else [gamma]
    return (f"Phase diagrams (`gantrain-analyze analysis.mode=phase`, command in each diagram's "
            f"command.txt): {len(lrs)} step sizes {num(min(lrs))}–{num(max(lrs))} × "
            f"{len(gammas)} γ ({', '.join(f'{g:g}' for g in gammas)}; one column, γ = {gamma:g}, "
            f"for rules without a γ), {some['steps']} plain-SGD steps per point from the zoo's "
            f"start. *converged / diverged*: share of the rule's grid points whose final "
            f"‖w − w*‖ < {some['tol']:g} / that blew up or went {some['diverge_factor']:g}× farther "
            "than the start (the rest crawled). The last three columns read the γ column "
            f"({gamma:g}): the largest step size that converged, the largest that did not diverge, "
            "and Lemma 4's largest stable step size for the expected field at the equilibrium "
            "(docs/methods.md §5).")


def compute_note(runs: list[Run], phases: dict, source: Path) -> str:
    by_game: dict[str, float] = {}
    for r in runs:
        w = finite((r.summary or {}).get("wall_time_s"))
        if w is not None:
            by_game[game_of(r).label] = by_game.get(game_of(r).label, 0.0) + w
    grid = sum(finite(d.get("timings", {}).get("grid_s")) or 0.0 for d in phases.values())
    bound = sum(finite(d.get("timings", {}).get("boundary_s")) or 0.0 for d in phases.values())
    parts = [f"{label}: {w:.0f} s" for label, w in by_game.items()]
    parts.append(f"phase diagrams: {grid:.0f} s training the grids + {bound:.0f} s for the "
                 "Lemma 4 curves")
    text = ("Run time summed over runs (each run's own wall_time_s; parallel jobs overlap, "
            "process start-up not counted): " + "; ".join(parts) + ".")
    try:
        log = json.loads((Path(source) / RUN_LOG).read_text())
        cpu: dict[str, float] = {}
        for j in log["jobs"]:
            cpu[j["game"]] = cpu.get(j["game"], 0.0) + (finite(j.get("cpu_s")) or 0.0)
        text += (f" The last `zoo run` ({RUN_LOG}): {len(log['jobs'])} jobs in "
                 f"{log['wall_s'] / 60:.1f} min of wall time with {log['workers']} worker "
                 f"process(es); CPU time by part: "
                 + ", ".join(f"{g} {c:.0f} s" for g, c in cpu.items())
                 + " (jobs found finished from an earlier run cost almost nothing).")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return text


CSV_FIELDS = ("game", "method", "gamma", "runs", "completed", "diverged", "failed",
              "dist_equilibrium_mean", "dist_equilibrium_std", "ten_x_closer_steps",
              "modes_covered_mean", "modes_covered_std", "high_quality_fraction_mean",
              "high_quality_fraction_std", "all_modes_steps", "horizon", "step_time_ms_mean",
              "step_time_ms_std", "step_time_exact", "ratio_to_simgd", "phase_converged_share",
              "phase_too_slow_share", "phase_diverged_share", "phase_gamma",
              "phase_max_converged_lr", "phase_max_stable_lr_observed", "lemma4_max_stable_lr",
              "phase_error", "notes")


def csv_row(game: Game, c: Cell, ph: dict | None) -> dict:
    kind_key = "ten_x_closer_steps" if "dist_equilibrium" in c.final else "all_modes_steps"
    row: dict[str, Any] = {"game": game.key, "method": c.method, "gamma": c.gamma,
                           "runs": len(c.runs), "completed": c.completed,
                           "diverged": c.diverged, "failed": c.failed,
                           kind_key: ";".join("never" if s is None else str(s) for s in c.first),
                           "horizon": c.horizon, "step_time_ms_mean": c.step_ms.mean,
                           "step_time_ms_std": c.step_ms.std, "step_time_exact": c.step_exact,
                           "ratio_to_simgd": c.ratio, "notes": "; ".join(c.notes)}
    for k, s in c.final.items():
        row[f"{k}_mean"], row[f"{k}_std"] = s.mean, s.std
    if ph is not None:
        if "error" in ph:
            row["phase_error"] = ph["error"]
        else:
            row.update({f"phase_{k}_share": v for k, v in ph["share"].items()})
            row.update({"phase_gamma": ph["gamma"], "phase_max_converged_lr": ph["max_converged_lr"],
                        "phase_max_stable_lr_observed": ph["max_stable_lr_observed"],
                        "lemma4_max_stable_lr": ph["lemma4_max_stable_lr"]})
    return row


def write_csv(rows: list[dict], path: Path) -> Path:
    import csv
    with Path(path).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r[k] for k in CSV_FIELDS})
    return Path(path)


# --- command line --------------------------------------------------------------------------------
def _error(msg: str) -> int:
    print(f"gantrain zoo: error: {msg}", file=sys.stderr)
    return 2


def _csv_arg(text: str | None, allowed: Sequence[str], flag: str) -> list[str]:
    from gantrain.errors import ConfigError
    values = [v for v in (text or "").split(",") if v]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ConfigError(f"{flag}={text} is invalid: allowed: comma-separated values among "
                          f"{', '.join(allowed)}")
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gantrain.report.zoo",
                                 description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train every rule on every game and draw the phase diagrams")
    p_run.add_argument("out", type=Path, help="folder for <game>/<method>/seed=<s> and phase/")
    p_run.add_argument("--methods", default=None, help="comma-separated (default: every rule)")
    p_run.add_argument("--parts", default=",".join(PARTS),
                       help=f"comma-separated, among {', '.join(PARTS)} (default: all)")
    p_run.add_argument("--seeds", default=None, help="comma-separated integers (default: 0,1,2; "
                                                     "--quick: 0)")
    p_run.add_argument("--quick", action="store_true",
                       help="500/300/200 steps (Gaussian/Dirac/MoG), one seed, a 4×3 phase grid at μ = 6")
    p_run.add_argument("--jobs", type=int, default=2, help="worker processes, one torch thread "
                                                            "each (1: this process)")
    p_run.add_argument("--phase-args", default="", help="more gantrain-analyze overrides for the "
                                                          "phase diagrams, space-separated")
    p_run.add_argument("overrides", nargs="*", help="more gantrain overrides for every training "
                                                    "run (key=value)")
    p_rep = sub.add_parser("report", help="the zoo report from a folder of its runs")
    p_rep.add_argument("source", type=Path)
    p_rep.add_argument("--out", type=Path, required=True, help="folder for summary.md and figures")
    # key=value overrides may come after the options too (argparse takes positionals in one run)
    args, rest = ap.parse_known_args(argv)
    if rest and (args.command != "run" or any(a.startswith("-") or "=" not in a for a in rest)):
        ap.error(f"unrecognized arguments: {' '.join(rest)}")

    from gantrain.errors import ConfigError
    if args.command == "run":
        args.overrides = [*args.overrides, *rest]
        try:
            known = rule_names()
            methods = known if args.methods is None else _csv_arg(args.methods, known, "--methods")
            parts = _csv_arg(args.parts, PARTS, "--parts")
            seeds = None
            if args.seeds is not None:
                try:
                    seeds = [int(v) for v in args.seeds.split(",")]
                except ValueError:
                    raise ConfigError(f"--seeds={args.seeds} is invalid: must be comma-separated "
                                      "integers") from None
            if args.jobs < 1:
                raise ConfigError(f"--jobs={args.jobs} is invalid: must be an integer >= 1")
            jobs = plan(args.out, methods, parts, args.quick, args.overrides,
                        args.phase_args.split(), 1 if args.jobs > 1 else 0, seeds)
            _check_first(jobs)
        except ConfigError as e:
            return _error(str(e))
        print(f"zoo: {len(jobs)} jobs ({len(methods)} rules: {', '.join(methods)}) under "
              f"{args.out}, {args.jobs} worker(s)", flush=True)
        t0 = time.perf_counter()
        results = run_all(jobs, args.jobs)
        write_run_log(args.out, results, time.perf_counter() - t0, args.jobs, args.quick)
        bad = [r for r in results if r["status"] == "failed"]
        print(f"zoo: {len(results) - len(bad)} of {len(results)} jobs ran"
              + (f"; {len(bad)} failed (recorded; the report shows them)" if bad else ""))
        return 0
    if not args.source.is_dir():
        return _error(f"{args.source} is not a directory")
    try:
        result = build_report(args.source, args.out)
    except FileNotFoundError as e:
        return _error(str(e))
    print(f"read {result['runs']} runs and {result['phases']} phase diagrams under {args.source}")
    for path in result["files"].values():
        print(f"wrote {path}")
    for name, why in result["skipped"].items():
        print(f"not made: {name} ({why})")
    return 0


RUN_LOG = "zoo_run.json"


def write_run_log(out: Path, results: list[dict], wall_s: float, workers: int, quick: bool) -> None:
    """What the last `run` did and what it cost (the report's compute section reads it)."""
    jobs = [{k: r.get(k) for k in ("kind", "game", "method", "label", "status", "error", "wall_s",
                                   "cpu_s")} for r in results]
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / RUN_LOG).write_text(json.dumps(
        {"wall_s": round(wall_s, 1), "workers": workers, "quick": quick, "jobs": jobs},
        indent=1) + "\n")
    cpu = {}
    for j in jobs:
        cpu[j["game"]] = cpu.get(j["game"], 0.0) + (j["cpu_s"] or 0.0)
    print(f"zoo: {len(jobs)} jobs in {wall_s:.0f} s wall with {workers} worker(s); CPU s: "
          + ", ".join(f"{g} {c:.0f}" for g, c in cpu.items()), flush=True)


def _check_first(jobs: list[Job]) -> None:
    """Bad overrides are refused in one line before any work, as `gantrain` / `gantrain-analyze`
    refuse them: the first job of each part is composed and checked here (every job checks
    itself again when it runs)."""
    from gantrain.analyze import check_config
    from gantrain.cli import _preflight
    from gantrain.config import validate
    seen = set()
    for j in jobs:
        if j.game not in seen:
            seen.add(j.game)
            if j.kind == "train":
                _preflight("train", validate, j.overrides, "cli")
            else:
                _preflight("analyze", check_config, j.overrides, "analyze")


if __name__ == "__main__":
    sys.exit(main())
