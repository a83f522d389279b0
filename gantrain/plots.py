"""Figures written during training."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display here or on clusters)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def scatter_kde(samples: np.ndarray, centers: np.ndarray, path: Path, title: str = "") -> None:
    """Generated samples as points over a KDE of their density, with the true modes marked."""
    from scipy.stats import gaussian_kde

    plt = pyplot()

    lim = 1.5 * max(np.abs(centers).max(), 1e-3)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    finite = samples[np.isfinite(samples).all(axis=1)]
    try:
        grid = np.mgrid[-lim:lim:100j, -lim:lim:100j]
        density = gaussian_kde(finite.T)(grid.reshape(2, -1)).reshape(100, 100)
        ax.contourf(grid[0], grid[1], density, levels=20, cmap="Blues")
    except (np.linalg.LinAlgError, ValueError):  # collapsed or too few samples: no density to draw
        pass
    ax.scatter(finite[:, 0], finite[:, 1], s=2, c="tab:blue", alpha=0.4, label="generated")
    ax.scatter(centers[:, 0], centers[:, 1], s=30, marker="x", c="tab:red", label="modes")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title, xlabel="x₁", ylabel="x₂")
    ax.legend(loc="upper right", fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def mode_histogram(counts: np.ndarray, path: Path, title: str = "") -> None:
    """Samples per mode as bars (10 modes), or as a 10 x 100 heat map (1 000 stacked-digit modes:
    row = first digit, column = the other two), with the uniform share marked."""
    plt = pyplot()
    counts = np.asarray(counts, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(8, 2.6) if len(counts) > 10 else (4, 3), dpi=100)
    if len(counts) == 1000:
        im = ax.imshow(counts.reshape(10, 100), aspect="auto", cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="samples")
        ax.set(xlabel="second and third digit (10 b + c)", ylabel="first digit a")
    else:
        ax.bar(np.arange(len(counts)), counts, color="tab:blue")
        ax.axhline(counts.sum() / len(counts), color="tab:red", lw=1, label="uniform")
        ax.set(xlabel="mode", ylabel="samples", xticks=np.arange(len(counts)))
        ax.legend(fontsize=7)
    covered = int((counts > 0).sum())
    ax.set_title(f"{title}: {covered} / {len(counts)} modes hold a sample", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
