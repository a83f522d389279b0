"""Curves of image runs over iterations, averaged over seeds: the Inception score (the Numerics of
GANs supplement's Figs. 7, 8, 12-14) and the discriminator and generator losses (its Fig. 11).

Each figure writes its plotted numbers beside it (same name, .json), so a reader can check a curve
without reading the picture. Lines are the seed mean, bands ± one sample standard deviation.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np

from gantrain.plots import pyplot
from gantrain.report.collect import Section, Setting
from gantrain.report.figures import LINESTYLES, add_legend, align_series, color, line_styles, save_figure
from gantrain.report.values import finite, fmt_value

IS_KEY = "inception_score"
LOSS_KEYS = (("loss_d", "discriminator loss"), ("loss_g", "generator loss"))


def seed_band(series: list[tuple[np.ndarray, np.ndarray]]):
    """(steps, mean, std, count) over runs at every step any of them logged: the mean of the runs
    with a value there, their sample standard deviation (n − 1; NaN under two values)."""
    aligned = align_series(series)
    if aligned is None:
        return None
    steps, table = aligned
    count = np.isfinite(table).sum(0)
    mean = np.nanmean(table, 0)
    std = np.full(len(steps), np.nan)
    several = count > 1
    if several.any():
        std[several] = np.nanstd(table[:, several], 0, ddof=1)
    return steps, mean, std, count


def _protocol_text(section: Section) -> str:
    values = {k: {r.config.get(k) for r in section.runs} for k in
              ("eval.name", "eval.num_samples", "eval.splits")}
    name, n, splits = (next(iter(v)) if len(v) == 1 else None for v in values.values())
    parts = [f"{fmt_value(n)} samples" if n is not None else "",
             f"{fmt_value(splits)} splits" if splits is not None else ""]
    text = ", ".join(p for p in parts if p)
    if name is not None:
        text = f"protocol {name}" + (f": {text}" if text else "")
    return f" ({text})" if text else ""


def _line(section: Section, s: Setting, key: str, label: str) -> dict | None:
    runs = [r for r in s.runs if r.status in ("completed", "diverged")]
    band = seed_band([r.series(key) for r in runs])
    if band is None:
        return None
    steps, mean, std, count = band
    return {"label": label, "method": s.method, "setting": s, "seeds": int(count.max()),
            "steps": steps, "mean": mean, "std": std}


def inception_panels(section: Section) -> list[dict]:
    """What inception_score.png draws: one panel per setting of the non-method keys (architecture,
    loss, ...), one line per method (mean over seeds, ± one standard deviation where there are
    several). Runs that failed before logging anything are left out."""
    panels = []
    for ctx, settings in section.by_context():
        lines = [_line(section, s, IS_KEY, section.line_label(s)) for s in settings]
        panels.append({"title": section.panel_title(ctx), "lines": [ln for ln in lines if ln]})
    return panels


def _json_list(a: np.ndarray) -> list:
    return [finite(x) for x in np.asarray(a, dtype=float).tolist()]


def _json_lines(lines: list[dict]) -> list[dict]:
    return [{"label": ln["label"], "method": ln["method"], "seeds": ln["seeds"],
             "steps": _json_list(ln["steps"]), "mean": _json_list(ln["mean"]),
             "std": _json_list(ln["std"])} for ln in lines]


def _draw(ax, line: dict, ls: str) -> tuple[object, bool]:
    """One seed-mean line with its ± std band; returns (handle, whether a band was drawn)."""
    c, steps, mean, std = color(line["method"]), line["steps"], line["mean"], line["std"]
    (h,) = ax.plot(steps, mean, color=c, ls=ls, lw=1.6, marker="o" if len(steps) <= 3 else None,
                   ms=4)
    ok = np.isfinite(std)
    if ok.any():
        ax.fill_between(steps[ok], (mean - std)[ok], (mean + std)[ok], color=c, alpha=0.18, lw=0)
    return h, bool(ok.any())


def _title(label: str, text: str, several: bool) -> str:
    title = f"{label}. {text}" if label else text
    return title + ("\nlines: mean over seeds; bands: ± one standard deviation over seeds"
                    if several else "")


def inception_curves(section: Section, path: Path, label: str = "") -> Path | None:
    """Inception score against iterations in the Numerics supplement's layout (Figs. 7, 8, 12-14):
    a panel per architecture/loss, a line per method; the plotted numbers go to the same name with
    .json. ``label`` (e.g. "Numerics Fig. 7") heads the title. None when no run logged a score."""
    panels = inception_panels(section)
    if not any(p["lines"] for p in panels):
        return None
    plt = pyplot()
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(max(4.6 * ncol, 5.5), 3.4 * nrow + 1.3),
                             squeeze=False, sharey=True)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    styles = line_styles(section)
    handles: dict[str, object] = {}
    several = False
    for ax, panel in zip(axes.flat, panels):
        for line in panel["lines"]:
            h, band = _draw(ax, line, styles[id(line["setting"])])
            handles.setdefault(line["label"], h)
            several |= band
        if not panel["lines"]:
            ax.text(0.5, 0.5, "no Inception score logged", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("Inception score")
    n_legend = add_legend(fig, handles)
    text = f"{section.dataset}: Inception score over iterations{_protocol_text(section)}"
    out = save_figure(plt, fig, path, _title(label, text, several), n_legend)
    data = {"metric": IS_KEY, "label": label, "panels": [
        {"title": p["title"], "lines": _json_lines(p["lines"])} for p in panels]}
    Path(path).with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    return out


def loss_rows(section: Section) -> list[dict]:
    """What losses.png draws, row by row. When every panel context holds one setting (Fig. 11: ConOpt
    without batch norm against AltGD with it) all settings share one row, each line labelled with
    its context; otherwise a row per context, a line per method. Each row: {"title", "settings",
    "labels"}."""
    groups = section.by_context()
    if len(groups) > 1 and all(len(settings) == 1 for _, settings in groups):
        settings = [s for _, group in groups for s in group]
        labels = [", ".join(x for x in (section.line_label(s),
                                        section.context_label(section.context(s))) if x)
                  for s in settings]
        return [{"title": "", "settings": settings, "labels": labels}]
    return [{"title": section.panel_title(ctx), "settings": settings,
             "labels": [section.line_label(s) for s in settings]} for ctx, settings in groups]


def loss_curves(section: Section, path: Path, label: str = "") -> Path | None:
    """The discriminator's and the generator's loss against iterations (the Numerics supplement's
    Fig. 11 (a), (b)), and the Inception score beside them (its (c)) where the runs evaluated it
    (an empty panel when every score is null); mean over seeds ± one standard deviation. The
    numbers go to the same name with .json. None when no run logged a loss."""
    # the score's panel where runs evaluated it, even when every score is null (no weights)
    has_is = any(len(r.series(IS_KEY)[0]) for r in section.runs) or bool(missing_reasons(section))
    keys = list(LOSS_KEYS) + ([(IS_KEY, "Inception score")] if has_is else [])
    rows = []
    for row in loss_rows(section):
        cells = []
        for key, _ in keys:
            lines = [_line(section, s, key, lab) for s, lab in zip(row["settings"], row["labels"])]
            cells.append([ln for ln in lines if ln])
        rows.append({**row, "cells": cells})
    if not any(ln for row in rows for cell in row["cells"][:2] for ln in cell):
        return None
    plt = pyplot()
    nrow, ncol = len(rows), len(keys)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.1 * nrow + 1.3), squeeze=False,
                             sharex=True)
    handles: dict[str, object] = {}
    several = False
    for i, row in enumerate(rows):
        variants: dict[str, list[str]] = {}        # a line style per label within a method
        for j, ((key, ylabel), cell) in enumerate(zip(keys, row["cells"])):
            ax = axes[i][j]
            for line in cell:
                seen = variants.setdefault(line["method"], [])
                if line["label"] not in seen:
                    seen.append(line["label"])
                ls = LINESTYLES[seen.index(line["label"]) % len(LINESTYLES)]
                h, band = _draw(ax, line, ls)
                handles.setdefault(line["label"], h)
                several |= band
            if not cell:
                ax.text(0.5, 0.5, "no logged values" if key != IS_KEY else
                        "no Inception score logged\n(see summary.md)", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            context = "\n" + textwrap.fill(row["title"], 48) if row["title"] else ""
            ax.set_title(f"({'abc'[j]}) {ylabel}{context}", fontsize=9)
            if i == nrow - 1:
                ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
    n_legend = add_legend(fig, handles)
    text = f"{section.dataset}: discriminator and generator loss over iterations"
    out = save_figure(plt, fig, path, _title(label, text, several), n_legend)
    data = {"metrics": [k for k, _ in keys], "label": label, "rows": [
        {"title": row["title"], "panels": [{"metric": k, "lines": _json_lines(cell)}
                                           for (k, _), cell in zip(keys, row["cells"])]}
        for row in rows]}
    Path(path).with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    return out


def missing_reasons(section: Section) -> list[str]:
    """Why scores are null (the evaluator's one line, e.g. no Inception weights), once each."""
    reasons = set()
    for r in section.runs:
        for src in [r.final] + r.records:
            if isinstance(src, dict) and src.get("missing"):
                reasons.add(str(src["missing"]).splitlines()[0])
    return sorted(reasons)
