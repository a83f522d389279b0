"""The neural phase diagram's figure (gantrain/analysis/phase_neural.py): the classes, each
point's Lemma 4 bound and, beside it, the Gaussian game's diagram for the same rule."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gantrain.analysis.phase import CLASS_COLORS, CLASSES, draw_classes, draw_phase


def plot_neural_phase(data: dict, gaussian: dict | None, path: Path) -> Path:
    """The neural diagram (classes, each point's Lemma 4 bound) and, beside it, the Gaussian one.

    Args:
        data: phase.json's content.
        gaussian: the Gaussian panel's phase.json content, or None.
        path: the file to write.
    Returns:
        the path written.
    """
    from matplotlib.patches import Patch

    from gantrain.analysis.plots import save_figure
    from gantrain.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2 if gaussian else 1, figsize=(12.4 if gaussian else 6.4, 5.2),
                             dpi=110, squeeze=False)
    ax = axes[0][0]
    draw_classes(ax, data["lrs"], data["gammas"], data["classes"])
    handles = [Patch(facecolor=CLASS_COLORS[c], edgecolor="0.3",
                     label=f"{c} ({data['counts'][c]})") for c in CLASSES]
    if data["lemma4"] is not None:
        handles += draw_bounds(ax, data)
    a = data["arch"]
    ax.set_title(f"{data['method']} on mog ({data['dataset']['modes']} modes), MLP {a['depth']}×"
                 f"{a['width']}, {data['optimizer']}, {data['steps']} steps", fontsize=10)
    ax.set_ylabel(f"lr (η, {data['optimizer']})")
    ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)
    if gaussian:
        draw_phase(axes[0][1], gaussian)
    return save_figure(plt, fig, path, "")


def draw_bounds(ax, data: dict) -> list:
    """Each point's Lemma 4 bound over its decaying eigenvalues as a dot in its γ column, a line
    through the column medians, and × on the cells whose lr it calls unstable; the legend's
    entries."""
    from matplotlib.lines import Line2D

    h = np.array([[np.nan if (x is None or x <= 0) else x for x in row]
                  for row in data["lemma4"]["decaying_max_stable_lr"]], float)
    for j, g in enumerate(data["gammas"]):
        ax.plot([g] * h.shape[0], h[:, j], "o", color="k", ms=3, alpha=0.6)
    with np.errstate(all="ignore"):
        med = np.array([np.nanmedian(col) if np.isfinite(col).any() else np.nan for col in h.T])
    ax.plot(data["gammas"], med, "-", color="k", lw=1.5)
    for i, lr in enumerate(data["lrs"]):
        for j, g in enumerate(data["gammas"]):
            if data["lemma4"]["decaying_predicted_stable"][i][j] is False:
                ax.text(g, lr, "×", ha="center", va="center", fontsize=11, color="0.1")
    return [Line2D([], [], color="k", marker="o", ms=3, lw=1.5,
                   label="Lemma 4 at each final point, Re λ < 0 part (line: median per γ)"),
            Line2D([], [], color="0.1", marker="x", lw=0, label="lr ≥ its point's bound")]
