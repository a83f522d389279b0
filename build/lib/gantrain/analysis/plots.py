"""Figures of the analysis: eigenvalues in the complex plane, factors against γ."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gantrain.plots import pyplot


def method_colors() -> dict[str, str]:
    """One colour per method, the same in every figure: each rule's ``color``, in the registry's
    order (the figures' and reports' order); rules without one are left out.

    Returns:
        method name → matplotlib colour.
    """
    from gantrain.rules import RULES

    return {name: RULES[name].color for name in RULES.where(lambda r: r.color is not None)}


def method_color(method: str, default: str = "k") -> str:
    """The colour of ``method`` (``default`` for an unknown method or one without a colour)."""
    from gantrain.rules import RULES

    rule = RULES.get(method)
    return default if rule is None or rule.color is None else rule.color


def __getattr__(name: str):   # METHOD_COLORS: read from the registry when first asked for
    if name == "METHOD_COLORS":
        return method_colors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def save_figure(plt, fig, path: Path, title: str) -> Path:
    """Title (if any), tight layout, write (making the folder), close.

    Args:
        plt, fig: pyplot and the figure.
        path: the file to write.
        title: its suptitle ('' for none).
    Returns:
        the path written.
    """
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def complex_plane(spectra: dict[str, list[list[float]]], path: Path, title: str = "",
                  theory: dict[str, list[list[float]]] | None = None) -> Path:
    """One panel per method: eigenvalues of the field's Jacobian (stable: left half-plane).

    Args:
        spectra: method -> [re, im] pairs.
        path: the file to write.
        title: the figure's title.
        theory: method -> closed-form [re, im] pairs (None: none), drawn as circles.
    Returns:
        the path written.
    """
    plt = pyplot()
    k = len(spectra)
    fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 3.4), dpi=100, squeeze=False)
    for ax, (method, ev) in zip(axes[0], spectra.items()):
        ev = np.asarray(ev, dtype=float).reshape(-1, 2)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.scatter(ev[:, 0], ev[:, 1], s=22, color=method_color(method), label="numeric")
        if theory and theory.get(method) is not None:
            th = np.asarray(theory[method], dtype=float).reshape(-1, 2)
            ax.scatter(th[:, 0], th[:, 1], s=60, facecolors="none", edgecolors="k", label="theorem")
            ax.legend(fontsize=7, loc="best")
        ax.set(title=method, xlabel="Re λ", ylabel="Im λ")
    return save_figure(plt, fig, path, title)


def factors_vs_gamma(gammas, zetas, taus, path: Path, method: str, title: str = "") -> Path:
    """ζ (phase factor) and τ (conditioning factor) against γ (JARE Corollary 3).

    Args:
        gammas, zetas, taus: the γ values and ζ, τ at each (None: undefined).
        path: the file to write.
        method: its name (colour, legend).
        title: the figure's title.
    Returns:
        the path written.
    """
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.4), dpi=100)
    color = method_color(method)
    for ax, ys, name in ((a1, zetas, "ζ = max |Im λ|/|Re λ|"), (a2, taus, "τ = |λ|max/|λ|min")):
        ys = np.array([np.nan if y is None else y for y in ys], dtype=float)
        ax.plot(gammas, ys, "o-", color=color, label=method)
        ax.set(xscale="log", xlabel="γ", ylabel=name)
        if np.nanmin(ys) > 0:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    return save_figure(plt, fig, path, title)
