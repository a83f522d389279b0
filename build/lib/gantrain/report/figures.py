"""The report's figures, in the papers' layouts, one colour per method (each rule's ``color``) everywhere.

Each function returns the path it wrote, or None when the runs hold nothing to draw. The curves of
image runs over seeds (Inception score, D and G losses) are in ``image_curves``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gantrain.analysis.plots import method_color
from gantrain.plots import pyplot
from gantrain.report.collect import Run, Section, Setting, fmt_value, method_label, pretty_key

LINESTYLES = ("-", "--", ":", "-.")
DPI = 110


def color(method: str) -> str:
    """The method's colour (grey for a method without one)."""
    return method_color(method, "0.35")


def save_figure(plt, fig, path: Path, title: str, legend_rows: int = 0) -> Path:
    import textwrap

    width = max(30, int(fig.get_figwidth() * 11))     # characters of an 11 pt title that fit
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in title.splitlines()), fontsize=11)
    bottom = 0.0 if not legend_rows else min(0.3, (0.15 + 0.25 * legend_rows) / fig.get_figheight())
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def line_styles(section: Section) -> dict[int, str]:
    """A line style per setting: solid for a method's first variant (γ, ...), then dashed, ..."""
    seen: dict[str, list[str]] = {}
    out = {}
    for s in section.settings:
        label = section.line_label(s)
        variants = seen.setdefault(s.method, [])
        if label not in variants:
            variants.append(label)
        out[id(s)] = LINESTYLES[variants.index(label) % len(LINESTYLES)]
    return out


def align_series(series: list[tuple[np.ndarray, np.ndarray]]):
    """(steps, table): every step any run logged, and one row per run (NaN where it has no value);
    None when no run logged anything."""
    series = [(s, v) for s, v in series if len(s)]
    if not series:
        return None
    steps = np.unique(np.concatenate([s for s, _ in series]))
    table = np.full((len(series), len(steps)), np.nan)
    for i, (s, v) in enumerate(series):
        table[i, np.searchsorted(steps, s)] = v
    return steps, table


def aggregate(series: list[tuple[np.ndarray, np.ndarray]]):
    """Mean, min and max over runs at every step any of them logged (each run where it has a value)."""
    aligned = align_series(series)
    if aligned is None:
        return None
    steps, table = aligned
    # every column has a value (a step is there because some run logged it): no all-NaN slices
    mean, lo, hi = np.nanmean(table, 0), np.nanmin(table, 0), np.nanmax(table, 0)
    return steps, mean, lo, hi, len(series)


def add_legend(fig, handles: dict, extra: list = ()) -> int:
    items = list(handles.items()) + list(extra)
    if not items:
        return 0
    ncol = min(len(items), 5)
    fig.legend([h for _, h in items], [label for label, _ in items], loc="lower center",
               ncol=ncol, fontsize=9, frameon=False)
    return -(-len(items) // ncol)


def _draw_setting(ax, s: Setting, key: str, logy: bool, ls: str):
    """One setting's line of ``key`` on ``ax`` (mean over its seeds, a min–max band for several,
    an ✕ where a run diverged). Returns (line, several seeds, any diverged), or None: no values."""
    runs = [r for r in s.runs if r.status in ("completed", "diverged")]
    series = []
    for r in runs:
        st, v = r.series(key)
        if logy:
            st, v = st[v > 0], v[v > 0]
        series.append((st, v))
    agg = aggregate(series)
    if agg is None:
        return None
    steps, mean, lo, hi, k = agg
    c = color(s.method)
    marker = "o" if len(steps) <= 3 else None
    (h,) = ax.plot(steps, mean, color=c, ls=ls, lw=1.6, marker=marker, ms=4)
    if k > 1:
        ax.fill_between(steps, lo, hi, color=c, alpha=0.18, lw=0)
    diverged = False
    for r, (st, v) in zip(runs, series):
        if r.status == "diverged" and len(st):
            x = r.diverged_at if r.diverged_at is not None else st[-1]
            ax.plot([x], [v[-1]], marker="X", ms=10, color=c, mec="k", mew=0.8, ls="none",
                    zorder=5)
            diverged = True
    return h, k > 1, diverged


def curve_grid(section: Section, rows: list[tuple[str, str]], path: Path, title: str,
               logy: bool = False, ylims: dict[str, tuple] | None = None) -> Path | None:
    """Rows = metrics, columns = settings of the non-method keys, one line per method (mean over
    seeds, min-max band when there are several); an ✕ where a run diverged."""
    from matplotlib.lines import Line2D

    contexts = section.by_context()
    have = [k for k, _ in rows if any(len(r.series(k)[0]) for r in section.runs
                                      if r.status in ("completed", "diverged"))]
    rows = [(k, label) for k, label in rows if k in have]
    if not rows:
        return None
    plt = pyplot()
    ncol, nrow = len(contexts), len(rows)
    fig, axes = plt.subplots(nrow, ncol, figsize=(max(4.3 * ncol, 5.5), 2.9 * nrow + 1.3),
                             squeeze=False, sharex="col")
    styles = line_styles(section)
    handles: dict[str, object] = {}
    diverged = False
    several = False
    for j, (ctx, settings) in enumerate(contexts):
        for i, (key, ylabel) in enumerate(rows):
            ax = axes[i][j]
            drawn = False
            for s in settings:
                out = _draw_setting(ax, s, key, logy, styles[id(s)])
                if out is None:
                    continue
                handles.setdefault(section.line_label(s), out[0])
                several, diverged, drawn = several or out[1], diverged or out[2], True
            if not drawn:
                ax.text(0.5, 0.5, "no logged values", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            elif logy:
                ax.set_yscale("log")
            if ylims and key in ylims:
                ax.set_ylim(*ylims[key])
            if i == 0:
                ax.set_title(section.panel_title(ctx), fontsize=10)
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == nrow - 1:
                ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
    extra = []
    for s in section.settings:       # say which runs had nothing to draw rather than drop them
        label = section.line_label(s)
        if label not in handles and (label + " (no values)") not in dict(extra):
            extra.append((label + " (no values)", Line2D([], [], color=color(s.method), ls=styles[id(s)],
                                                        alpha=0.35)))
    if diverged:
        extra.append(("diverged (last finite value)", Line2D([], [], marker="X", ms=9, color="0.5",
                                                             mec="k", ls="none")))
    n_legend = add_legend(fig, handles, extra)
    if several:
        title += "\nlines: mean over seeds; bands: min–max over seeds"
    return save_figure(plt, fig, path, title, n_legend)


def dynamics(section: Section, path: Path) -> Path | None:
    """Gaussian game, JARE Fig. 5/6: top ‖θ − θ*‖, bottom ‖φ − φ*‖ against iterations."""
    return curve_grid(section, [("dist_discriminator", "‖θ − θ*‖ (discriminator)"),
                                ("dist_generator", "‖φ − φ*‖ (generator)")], path,
                      "Gaussian game: distance to the equilibrium", logy=True)


def modes(section: Section, path: Path) -> Path | None:
    k = section.fixed.get("dataset.modes")
    label = f"modes covered (of {fmt_value(k)})" if k is not None else "modes covered"
    ylims = {"high_quality_fraction": (-0.02, 1.02)}
    if isinstance(k, (int, float)):
        ylims["modes_covered"] = (-0.3, k + 0.3)
    return curve_grid(section, [("modes_covered", label),
                                ("high_quality_fraction", "high-quality fraction")], path,
                      "Mixture of Gaussians: modes covered and sample quality", ylims=ylims)


def image_metrics(section: Section, path: Path) -> Path | None:
    return curve_grid(section, [("inception_score", "Inception score (higher is better)"),
                                ("fid", "FID (lower is better)")], path,
                      f"{section.dataset}: Inception score and FID (missing values skipped)")


def _representative(s: Setting, has) -> Run | None:
    """The run of a setting whose pictures are shown: the first completed seed, else any."""
    ordered = sorted(s.runs, key=lambda r: r.status != "completed")
    return next((r for r in ordered if has(r)), None)


def _frame(ax, c: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_color(c)
        sp.set_linewidth(2)


def _row_label(section: Section, s: Setting, r: Run) -> str:
    parts = [section.line_label(s)]
    ctx = section.context_label(section.context(s), sep="\n")
    if ctx:
        parts.append(ctx)
    if len(s.runs) > 1:
        parts.append(f"seed {fmt_value(r.seed)}")
    if r.status != "completed":
        parts.append(r.describe())
    return "\n".join(parts)


def samples(section: Section, path: Path, max_cols: int = 8, max_rows: int = 24) -> Path | None:
    """MoG, JARE Fig. 7/8: rows = settings, columns = iterations, the runs' scatter/KDE images."""
    picked = [(s, _representative(s, lambda r: bool(r.images()))) for s in section.settings]
    picked = [(s, r) for s, r in picked if r is not None][:max_rows]
    if not picked:
        return None
    steps = sorted(set().union(*(r.images() for _, r in picked)))
    if len(steps) > max_cols:
        idx = np.unique(np.linspace(0, len(steps) - 1, max_cols).round().astype(int))
        steps = [steps[i] for i in idx]
    plt = pyplot()
    nrow, ncol = len(picked), len(steps)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.4 * ncol + 1.4, 2.4 * nrow + 0.7),
                             squeeze=False)
    for i, (s, r) in enumerate(picked):
        imgs = r.images()
        c = color(s.method)
        for j, step in enumerate(steps):
            ax = axes[i][j]
            if step in imgs:
                ax.imshow(plt.imread(imgs[step]))
            else:
                ax.text(0.5, 0.5, "no image", ha="center", va="center", transform=ax.transAxes,
                        color="0.5")
            _frame(ax, c)
            if i == 0:
                ax.set_title(f"iteration {step}", fontsize=10)
            if j == 0:
                ax.set_ylabel(_row_label(section, s, r), fontsize=9, color=c)
    return save_figure(plt, fig, path, "Mixture of Gaussians: generated samples (scatter over their KDE; "
                                 "× = true modes)")


def image_samples(section: Section, path: Path, max_panels: int = 32, label: str = "") -> Path | None:
    """The last sample grid (samples/step_XXXXXX.png) of every image run; ``label`` (e.g. "Numerics
    Fig. 6") heads the title."""
    panels = []
    for s in section.settings:
        for r in s.runs:
            grids = r.sample_grids()
            if grids:
                step = max(grids)
                panels.append((s, r, step, grids[step]))
    panels = panels[:max_panels]
    if not panels:
        return None
    plt = pyplot()
    ncol = min(4, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.9 * nrow + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (s, r, step, p) in zip(axes.flat, panels):
        ax.axis("on")
        ax.imshow(plt.imread(p))
        _frame(ax, color(s.method))
        title = [section.line_label(s)]
        ctx = section.context_label(section.context(s))
        if ctx:
            title.append(ctx)
        title.append(f"seed {fmt_value(r.seed)}, iteration {step}"
                     + ("" if r.status == "completed" else f" ({r.describe()})"))
        ax.set_title("\n".join(title), fontsize=9, color=color(s.method))
    title = f"{section.dataset}: last sample grid of each run"
    return save_figure(plt, fig, path, f"{label}. {title}" if label else title)


def spectra(section: Section, path: Path, max_panels: int = 64) -> Path | None:
    """Eigenvalues of each analysed field's Jacobian in the complex plane (theorems: hollow circles).
    Columns = methods, rows = the other settings (γ, μ, ...)."""
    runs = [(s, r) for s in section.settings for r in s.runs if r.spectrum
            and r.spectrum.get("eigenvalues")][:max_panels]
    if not runs:
        return None
    methods = list(dict.fromkeys(s.method for s, _ in runs))
    row_keys = [k for k in section.varying if k != "method.name"]
    row_of = lambda s: tuple(s.values.get(k) for k in row_keys)  # noqa: E731
    rows = list(dict.fromkeys(row_of(s) for s, _ in runs))
    plt = pyplot()
    nrow, ncol = len(rows), len(methods)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol + 0.4, 3.0 * nrow + 0.9),
                             squeeze=False)
    used = np.zeros((nrow, ncol), bool)
    theorem_shown = False
    for s, r in runs:
        i, j = rows.index(row_of(s)), methods.index(s.method)
        ax = axes[i][j]
        c = color(s.method)
        ev = np.asarray(r.spectrum["eigenvalues"], dtype=float).reshape(-1, 2)
        if not used[i, j]:
            ax.axvline(0, color="0.6", lw=0.8)
            ax.axhline(0, color="0.6", lw=0.8)
        ax.scatter(ev[:, 0], ev[:, 1], s=24, color=c, zorder=3,
                   label="numeric" if not used[i, j] else None)
        th = r.spectrum.get("theory_eigenvalues")
        if th:
            th = np.asarray(th, dtype=float).reshape(-1, 2)
            ax.scatter(th[:, 0], th[:, 1], s=80, facecolors="none", edgecolors="k", zorder=4,
                       label="theorem" if not used[i, j] else None)
            theorem_shown = True
        used[i, j] = True
        title = ", ".join([method_label(s.method)] + [f"{pretty_key(k)}={fmt_value(s.values.get(k))}"
                                        for k in row_keys if k in s.values])
        stable = r.spectrum.get("stable")
        if stable is not None:
            title += "\n" + ("stable" if stable else "UNSTABLE") + f" at lr {fmt_value(r.spectrum.get('lr'))}"
        ax.set_title(title, fontsize=9, color=c)
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
        ax.grid(alpha=0.3)
    for i in range(nrow):
        for j in range(ncol):
            if not used[i, j]:
                axes[i][j].axis("off")
    if theorem_shown:
        first = np.argwhere(used)[0]
        axes[first[0]][first[1]].legend(fontsize=8, loc="best")
    return save_figure(plt, fig, path, "Eigenvalues of the update field's Jacobian "
                                 "(stable: all in the left half-plane)")
