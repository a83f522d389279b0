"""The zoo's two figures: dynamics.png (every rule's mean curve per game) and stability.png (from the
phase diagrams, the largest step sizes that converged / did not diverge, and Lemma 4's bound)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gantrain.report.zoo.plan import uses_gamma
from gantrain.report.zoo.results import Cell, Game, kind_of, method_order, phase_summary

MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d", "8", "H")
STABILITY_MARKERS = {"max_converged_lr": ("o", 6, "full"), "max_stable_lr_observed": ("^", 7, "none"),
                     "lemma4_max_stable_lr": ("_", 14, "full")}
STABILITY_LABELS = {"max_converged_lr": "largest lr converged",
                    "max_stable_lr_observed": "largest lr not diverged",
                    "lemma4_max_stable_lr": "Lemma 4 bound"}


def _draw_panel(ax, game: Game, cells: list[Cell], kind: str, methods: list[str],
                handles: dict) -> None:
    from gantrain.report.figures import aggregate, color

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


def dynamics_figure(games: dict[Game, list[Cell]], path: Path) -> Path | None:
    """A panel per game: ‖w − w*‖ (log scale) or modes covered against iterations, a line per method
    (mean over its seeds; solid: rules with a γ, dashed: without; a marker per rule); ✕ marks a
    divergence.

    Args:
        games: ``make_cells``'s cells.
        path: the PNG to write.

    Returns:
        ``path``, or None when no game has a distance or modes curve.
    """
    from gantrain.plots import pyplot

    panels = [(g, cells, kind_of(cells)) for g, cells in games.items()]
    panels = [p for p in panels if p[2] in ("distance", "modes")]
    if not panels:
        return None
    methods = sorted({c.method for _, cells, _ in panels for c in cells}, key=method_order)
    plt = pyplot()
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.5 * rows + 0.9), dpi=110,
                             squeeze=False)
    handles: dict = {}
    for ax, (game, cells, kind) in zip(axes.flat, panels):
        _draw_panel(ax, game, cells, kind, methods, handles)
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


def _stability_row(ax, phases: dict, methods: list[str], mu: float, gamma: float) -> None:
    from gantrain.report.figures import color

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
    ax.set_xticks(np.arange(len(methods)), methods, rotation=60, fontsize=8)
    ax.set(yscale="log", ylabel="step size η")
    ax.set_title(f"Gaussian μ = {mu:g}, γ = {gamma:g}", fontsize=9)
    ax.grid(alpha=0.3, axis="y")


def stability_figure(phases: dict[tuple[str, float], dict], methods: list[str], mus: list[float],
                     gamma: float, path: Path) -> Path | None:
    """Per μ: each rule's largest lr that converged / did not diverge at γ, and Lemma 4's bound.

    Args:
        phases: ``read_phases``'s diagrams.
        methods: the rules, in the order drawn.
        mus: a row per μ.
        gamma: the γ column read.
        path: the PNG to write.

    Returns:
        The PNG's path, or None when there is no diagram to draw.
    """
    from matplotlib.lines import Line2D

    from gantrain.analysis.plots import save_figure
    from gantrain.plots import pyplot

    if not mus or not any((m, mu) in phases for m in methods for mu in mus):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(mus), 1, figsize=(max(5.0, 0.5 * len(methods) + 1.5),
                                                   2.6 * len(mus) + 0.8),
                             dpi=110, squeeze=False, sharex=True, sharey=True)
    for ax, mu in zip(axes[:, 0], mus):
        _stability_row(ax, phases, methods, mu, gamma)
    handles = [Line2D([], [], ls="", marker=mk, ms=ms, mew=2, fillstyle=fill, color="0.3",
                      label=STABILITY_LABELS[k]) for k, (mk, ms, fill) in STABILITY_MARKERS.items()]
    axes[0][0].legend(handles=handles, fontsize=7, loc="lower left")
    return save_figure(plt, fig, path, "")
