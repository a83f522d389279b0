"""The zoo's report: summary.md (a table per game), table.csv, zoo.json and the two figures, from a
folder of its runs and phase diagrams."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from gantrain.report.collect import Run, collect, finite, fmt_value, method_label
from gantrain.report.html import Figure, Table, esc, figures_html, page, table_html, write_page
from gantrain.report.html_runs import run_sections
from gantrain.report.tables import fmt_stat, md_table, num
from gantrain.report.zoo.figures import dynamics_figure, stability_figure
from gantrain.report.zoo.plan import load_plan, uses_gamma
from gantrain.report.zoo.results import (
    Cell,
    Game,
    game_of,
    kind_of,
    make_cells,
    method_order,
    phase_summary,
    read_phases,
)
from gantrain.report.zoo.runner import RUN_LOG

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
COLUMNS_NOTE = (
    "Columns: *completed* = seeds that finished / seeds run, *diverged* = seeds whose run "
    "ended `diverged` (a non-finite value or the parameter norm past "
    "divergence.max_param_norm; they are left out of the means). Final values: mean ± "
    "sample std (n − 1) over the completed seeds. *10× closer at*: the first logged "
    "iteration at which ‖w − w*‖ ≤ its step-0 value / 10, per seed (a diverged seed counts "
    "if it got there first), \"never\" when not within the run's steps; *all modes at*: the "
    "first logged iteration with every mode covered.")
CSV_FIELDS = ("game", "method", "gamma", "runs", "completed", "diverged", "failed",
              "dist_equilibrium_mean", "dist_equilibrium_std", "ten_x_closer_steps",
              "modes_covered_mean", "modes_covered_std", "high_quality_fraction_mean",
              "high_quality_fraction_std", "all_modes_steps", "horizon", "step_time_ms_mean",
              "step_time_ms_std", "step_time_exact", "ratio_to_simgd", "phase_converged_share",
              "phase_too_slow_share", "phase_diverged_share", "phase_gamma",
              "phase_max_converged_lr", "phase_max_stable_lr_observed", "lemma4_max_stable_lr",
              "phase_error", "notes")


# --- table cells ---------------------------------------------------------------------------------
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
    """The line under a game's title: its settings, as the runs' configs have them."""
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


def _phase_cells(phase: dict | None) -> list[str]:
    if phase is None:
        return ["not run", "—", "—", "—"]
    if "error" in phase:
        return ["failed", "—", "—", "—"]
    s = phase["share"]
    return [f"{100 * s['converged']:.0f}% / {100 * s['diverged']:.0f}%",
            num(phase["max_converged_lr"]) if phase["max_converged_lr"] else "none",
            num(phase["max_stable_lr_observed"]) if phase["max_stable_lr_observed"] else "none",
            num(phase["lemma4_max_stable_lr"])]


def cell_row(cell: Cell, kind: str, with_phase: bool, phase: dict | None) -> list[str]:
    """A rule's row in its game's table (the columns of ``header``)."""
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
        row += _phase_cells(phase)
    notes = list(cell.notes)
    if phase is not None and "error" in phase:
        notes.append(f"phase diagram failed: {phase['error']}")
    row.append("; ".join(notes))
    return row


def header(kind: str, with_phase: bool) -> list[str]:
    """The columns of a game's table."""
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


# --- notes ---------------------------------------------------------------------------------------
def phase_note(phases: dict, mu: float, gamma: float) -> str:
    """The paragraph under a Gaussian game's table: how its phase diagrams were made and read."""
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


def _run_log_note(source: Path) -> str:
    try:
        log = json.loads((Path(source) / RUN_LOG).read_text())
        cpu: dict[str, float] = {}
        for j in log["jobs"]:
            cpu[j["game"]] = cpu.get(j["game"], 0.0) + (finite(j.get("cpu_s")) or 0.0)
        return (f" The last `zoo run` ({RUN_LOG}): {len(log['jobs'])} jobs in "
                f"{log['wall_s'] / 60:.1f} min of wall time with {log['workers']} worker "
                f"process(es); CPU time by part: "
                + ", ".join(f"{g} {c:.0f} s" for g, c in cpu.items())
                + " (jobs found finished from an earlier run cost almost nothing).")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def compute_note(runs: list[Run], phases: dict, source: Path) -> str:
    """What the runs cost: run time per game and for the phase diagrams, and the last run's log."""
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
    return ("Run time summed over runs (each run's own wall_time_s; parallel jobs overlap, "
            "process start-up not counted): " + "; ".join(parts) + "." + _run_log_note(source))


# --- CSV -----------------------------------------------------------------------------------------
def csv_row(game: Game, c: Cell, ph: dict | None) -> dict:
    """A rule's row of table.csv (and zoo.json)."""
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
    """table.csv: ``CSV_FIELDS``, an empty cell for a missing value."""
    import csv
    with Path(path).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r[k] for k in CSV_FIELDS})
    return Path(path)


# --- the report ----------------------------------------------------------------------------------
def _report_gamma(games: dict[Game, list[Cell]]) -> float:
    """The γ the phase columns are read at: the Gaussian runs' (of the rules with a γ), else the
    plan's."""
    gammas = {finite(r.config.get("gamma")) for g, cells in games.items()
              if g.dataset == "gaussian" for c in cells for r in c.runs
              if uses_gamma(r.method)} - {None}
    return min(gammas) if gammas else load_plan().gamma


def _draw_figures(games, phases, methods, gamma, out: Path) -> tuple[dict, dict]:
    files: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    figs = {"dynamics.png": lambda p: dynamics_figure(games, p),
            "stability.png": lambda p: stability_figure(phases, methods, sorted({mu for _, mu in
                                                                                 phases}), gamma, p)}
    for name, draw in figs.items():
        try:
            made = draw(out / name)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn costs only itself
            made, skipped[name] = None, f"{type(e).__name__}: {e}"
        if made:
            files[name] = made
    return files, skipped


def _intro(source: Path, runs: list[Run], phases: dict, methods: list[str]) -> list[str]:
    return ["# The zoo: every update rule on three games", "",
            f"Runs read from `{source}`: {len(runs)} training runs, {len(phases)} phase diagrams. "
            f"Rules ({len(methods)}): " + ", ".join(f"`{m}`" for m in methods) + ". Rules without "
            "a γ: " + (", ".join(f"`{m}`" for m in methods if not uses_gamma(m)) or "none")
            + " (— in the γ column). Each rule with a γ runs at one γ per game, the one stated "
            "under its table.", "", COLUMNS_NOTE, ""]


def _game_sections(games, phases, gamma: float) -> tuple[list[str], list[dict], list[Table]]:
    md: list[str] = []
    csv_rows: list[dict] = []
    tables: list[Table] = []
    for game, cells in games.items():
        kind = kind_of(cells)
        with_phase = game.dataset == "gaussian" and any(
            (c.method, game.mu) in phases for c in cells)
        md += [f"## {game.label}", "", game_setting(game, cells), ""]
        body = []
        for c in cells:
            ph = phase_summary(phases[(c.method, game.mu)], gamma) \
                if with_phase and (c.method, game.mu) in phases else None
            body.append(cell_row(c, kind, with_phase, ph))
            csv_rows.append(csv_row(game, c, ph))
        md += [md_table(header(kind, with_phase), body), ""]
        notes = [game_setting(game, cells)]
        if with_phase:
            md += [phase_note(phases, game.mu, gamma), ""]
            notes.append(phase_note(phases, game.mu, gamma))
        tables.append(Table(game.label, header(kind, with_phase), body, notes))
    return md, csv_rows, tables


FIGURE_CAPTIONS = {
    "dynamics.png": "‖w − w*‖ (Gaussian, DiracGAN; log scale) and modes covered (MoG) against "
                    "iterations, one line per rule (mean over seeds; solid: rules with a γ, dashed: "
                    "without), ✕ where a seed diverged.",
    "stability.png": "From the phase diagrams, per μ and rule: the largest step size that converged "
                     "(●), that did not diverge (△), and Lemma 4's bound (—)."}


def _figures_section(files: dict, skipped: dict, gamma: float) -> list[str]:
    md = ["## Figures", ""]
    if "dynamics.png" in files:
        md.append("- [dynamics.png](dynamics.png): ‖w − w*‖ (Gaussian, DiracGAN; log scale) and "
                  "modes covered (MoG) against iterations, one line per rule (mean over seeds; "
                  "solid: rules with a γ, dashed: without), ✕ where a seed diverged.")
    if "stability.png" in files:
        md.append(f"- [stability.png](stability.png): from the phase diagrams, per μ and rule at "
                  f"γ = {gamma:g}: the largest step size that converged (●), that did not "
                  f"diverge (△), and Lemma 4's bound (—).")
    return md + [f"- {name} not made: {why}" for name, why in skipped.items()]


def write_html(source: Path, out: Path, runs: list[Run], tables: list[Table], files: dict,
               skipped: dict, intro: list[str]) -> Path:
    """``<out>/report.html``: the game tables, the figures, every run and phase diagram with its
    status and config differences, in one self-contained page (``gantrain.report.html``).

    Args:
        source: the folder ``zoo run`` wrote.
        out: the report's folder.
        runs: every run directory under ``source`` (training runs and phase diagrams).
        tables: the game tables.
        files, skipped: the report's files (the figures among them), figures not made and why.
        intro: the paragraphs under the title.

    Returns:
        The page's path.
    """
    figs = [Figure(name, files[name], FIGURE_CAPTIONS[name]) for name in FIGURE_CAPTIONS
            if name in files]
    notes = f'<p class="note">{esc(COLUMNS_NOTE)}</p><p class="note">{esc(STEP_TIME_NOTE)}</p>'
    sections = [("tables", "Tables", "".join(table_html(t) for t in tables) + notes),
                ("figures", "Figures", figures_html(figs, skipped)),
                *run_sections(runs, source, out)]
    return write_page(out / "report.html", page("The zoo: every update rule on three games",
                                                intro, sections))


def build_report(source: Path, out: Path, html: bool = False) -> dict:
    """Read the zoo's runs and phase diagrams and write its report.

    Args:
        source: the folder ``zoo run`` wrote.
        out: the folder of summary.md, table.csv, zoo.json, dynamics.png and stability.png.
        html: also write report.html (``write_html``).

    Returns:
        {"dir", "runs", "phases", "files" (name -> path), "games" (``make_cells``), "skipped"
        (figure -> why not made)}.

    Raises:
        FileNotFoundError: no zoo run or phase diagram under ``source``.
    """
    source, out = Path(source), Path(out)
    every = collect(source)
    runs = [r for r in every if r.kind == "train"]
    phases = read_phases(source)
    if not runs and not phases:
        raise FileNotFoundError(f"no zoo runs or phase diagrams under {source}")
    out.mkdir(parents=True, exist_ok=True)
    games = make_cells(runs)
    gamma = _report_gamma(games)
    methods = sorted({c.method for cells in games.values() for c in cells} | {m for m, _ in phases},
                     key=method_order)
    files, skipped = _draw_figures(games, phases, methods, gamma, out)
    sections, csv_rows, tables = _game_sections(games, phases, gamma)
    md = [*_intro(source, runs, phases, methods), *sections, *_figures_section(files, skipped, gamma),
          "", "## Step time", "", STEP_TIME_NOTE, "", "## Compute", "",
          compute_note(runs, phases, source), ""]
    (out / "summary.md").write_text("\n".join(md))
    files["summary.md"] = out / "summary.md"
    files["table.csv"] = write_csv(csv_rows, out / "table.csv")
    (out / "zoo.json").write_text(json.dumps({"source": str(source), "gamma_phase": gamma,
                                              "rows": csv_rows}, indent=1, default=str) + "\n")
    files["zoo.json"] = out / "zoo.json"
    if html:
        files["report.html"] = write_html(source, out, every, tables, files, skipped,
                                          [f"Runs read from {source}: {len(runs)} training runs, "
                                           f"{len(phases)} phase diagrams."])
    return {"dir": out, "runs": len(runs), "phases": len(phases), "files": files,
            "games": games, "skipped": skipped}
