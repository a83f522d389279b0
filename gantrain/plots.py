"""Figures written during training.

They are drawn on a bare ``matplotlib.figure.Figure`` (its own Agg canvas), not through
``matplotlib.pyplot``, and the density under the samples is computed here, not by
``scipy.stats``: a training run imports neither (about 1.2 s of start-up on a 2-core machine).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def figure(figsize: tuple[float, float], dpi: int = 100):
    """A matplotlib Figure that saves itself (no pyplot state, nothing to close).

    Args:
        figsize: width and height in inches.
        dpi: dots per inch.
    Returns:
        a ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi)


def gaussian_kde_density(points: np.ndarray, at: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """The Gaussian kernel density estimate of ``points`` at ``at``, as ``scipy.stats.gaussian_kde``
    computes it: the kernel's covariance is the points' (ddof 1) times Scott's factor² (n^(−2/(d+4))).

    Args:
        points: [n, d] samples.
        at: [m, d] where to evaluate.
        chunk: evaluation points per block (memory: chunk × n).
    Returns:
        [m] densities.
    Raises:
        ValueError: fewer than d + 1 points; np.linalg.LinAlgError: a singular covariance
        (collapsed samples).
    """
    n, d = points.shape
    if n <= d:
        raise ValueError(f"{n} points cannot give a {d}-dimensional density")
    cov = np.atleast_2d(np.cov(points, rowvar=False)) * n ** (-2.0 / (d + 4))
    chol = np.linalg.cholesky(cov)   # LinAlgError when the samples lie on a line or a point
    whiten = np.linalg.inv(chol)
    white_points = points @ whiten.T
    norm = n * (2 * np.pi) ** (d / 2) * np.prod(np.diag(chol))
    out = np.empty(len(at))
    for lo in range(0, len(at), chunk):
        w = at[lo:lo + chunk] @ whiten.T
        sq = (w * w).sum(1)[:, None] - 2 * w @ white_points.T + (white_points ** 2).sum(1)[None]
        out[lo:lo + chunk] = np.exp(-0.5 * np.maximum(sq, 0)).sum(1) / norm
    return out


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display here or on clusters)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def scatter_kde(samples: np.ndarray, centers: np.ndarray, path: Path, title: str = "") -> None:
    """Generated samples as points over a KDE of their density, with the true modes marked."""
    lim = 1.5 * max(np.abs(centers).max(), 1e-3)
    fig = figure((4, 4))
    ax = fig.subplots()
    finite = samples[np.isfinite(samples).all(axis=1)]
    try:
        grid = np.mgrid[-lim:lim:100j, -lim:lim:100j]
        density = gaussian_kde_density(finite, grid.reshape(2, -1).T).reshape(100, 100)
        ax.contourf(grid[0], grid[1], density, levels=20, cmap="Blues")
    except (np.linalg.LinAlgError, ValueError):  # collapsed or too few samples: no density to draw
        pass
    ax.scatter(finite[:, 0], finite[:, 1], s=2, c="tab:blue", alpha=0.4, label="generated")
    ax.scatter(centers[:, 0], centers[:, 1], s=30, marker="x", c="tab:red", label="modes")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title, xlabel="x₁", ylabel="x₂")
    ax.legend(loc="upper right", fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")


def mode_histogram(counts: np.ndarray, path: Path, title: str = "") -> None:
    """Samples per mode as bars (10 modes), or as a 10 x 100 heat map (1 000 stacked-digit modes:
    row = first digit, column = the other two), with the uniform share marked."""
    counts = np.asarray(counts, dtype=np.float64)
    fig = figure((8, 2.6) if len(counts) > 10 else (4, 3))
    ax = fig.subplots()
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
