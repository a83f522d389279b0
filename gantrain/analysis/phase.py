"""Stability phase diagrams of the Gaussian game: which (lr, γ) converge, crawl or blow up.

Every grid point is a plain-SGD run from the config's start point on the same batch sequence
(``torch.Generator().manual_seed(seed + 1)``, as in ``gantrain.train``). All points train as one
batched computation on a ``GaussianGridGame`` with the unchanged rule objects (a tensor γ gives each
point its own weight), so thousands of toy runs take seconds. Each point ends in one class:

- ``diverged``: at some step its parameters went non-finite, its parameter norm passed
  ``max_param_norm``, or its distance to the equilibrium passed ``diverge_factor`` × its initial
  distance (ConOpt at μ = 6 saturates at a bounded distance instead of blowing up). It is frozen
  from that step on at its last good parameters (finite, so it cannot disturb the others) and
  ``diverged_at`` records the step.
- ``converged``: final ‖w − w*‖ < ``tol``.
- ``too_slow``: neither.

Over the classes lies the prediction of Lemma 4 (docs/methods.md §5): for each γ, the largest step size
for which I + lr·J is stable, J the Jacobian of the *expected* field at the equilibrium (exact by
quadrature, float64).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from gantrain.analysis.lemma4 import lemma4_boundary, lemma4_section  # noqa: F401 (lemma4_boundary: re-exported)
from gantrain.checks import required
from gantrain.errors import ConfigError

CLASSES = ("converged", "too_slow", "diverged")
CLASS_COLORS = {"converged": "#4daf4a", "too_slow": "#fed976", "diverged": "#e41a1c"}


# --- config ------------------------------------------------------------------------------------
def axis_values(values, spec, key: str, range_key: str) -> list[float]:
    """``values`` (an explicit list of numbers > 0) or, when null, ``spec`` = {min, max, num}:
    ``num`` log-spaced values from min to max."""
    if values is not None:
        values = list(values) if isinstance(values, (ListConfig, list, tuple)) else values
        if not (isinstance(values, list) and values
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                        for v in values)):
            raise ConfigError(f"phase.{key}={values!r} is invalid: must be null or a non-empty "
                              "list of numbers > 0 (the axes are logarithmic)")
        return [float(v) for v in values]
    spec = OmegaConf.to_container(spec) if isinstance(spec, DictConfig) else spec
    if not isinstance(spec, dict) or set(spec) != {"min", "max", "num"}:
        raise ConfigError(f"phase.{range_key}={spec!r} is invalid: must be {{min, max, num}} "
                          f"(used when phase.{key} is null)")
    lo, hi, num = spec["min"], spec["max"], spec["num"]
    if not (isinstance(num, int) and not isinstance(num, bool) and num >= 1):
        raise ConfigError(f"phase.{range_key}.num={num!r} is invalid: must be an integer >= 1")
    if not (all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (lo, hi))
            and lo <= hi):
        raise ConfigError(f"phase.{range_key}={spec!r} is invalid: need 0 < min <= max")
    return [float(v) for v in np.geomspace(lo, hi, num)]


@dataclass
class PhaseSettings:
    """The Gaussian grid's settings; every default is in conf/analyze.yaml's ``phase:``."""
    lrs: list[float]
    gammas: list[float]
    steps: int
    tol: float
    diverge_factor: float
    max_param_norm: float
    boundary_points: int

    @classmethod
    def from_cfg(cls, cfg) -> "PhaseSettings":
        p = cfg.get("phase")
        if p is None:
            raise ConfigError("phase is missing: analysis.mode=phase needs the phase: section of "
                              "conf/analyze.yaml")
        known = {"lrs", "lr_range", "gammas", "gamma_range", "steps", "tol", "diverge_factor",
                 "max_param_norm", "boundary_points", "neural"}
        unknown = sorted(set(p) - known)
        if unknown:
            raise ConfigError(f"phase.{unknown[0]} is not a known key; allowed: "
                              f"{', '.join(sorted(known))}")
        s = cls(lrs=axis_values(p.get("lrs"), p.get("lr_range"), "lrs", "lr_range"),
                gammas=axis_values(p.get("gammas"), p.get("gamma_range"), "gammas", "gamma_range"),
                **{k: required(p, k, "phase") for k in ("steps", "tol", "diverge_factor",
                                                         "max_param_norm", "boundary_points")})
        for key in ("steps", "boundary_points"):
            v = getattr(s, key)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ConfigError(f"phase.{key}={v!r} is invalid: must be an integer >= 1")
        for key in ("tol", "diverge_factor", "max_param_norm"):
            v = getattr(s, key)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0):
                raise ConfigError(f"phase.{key}={v!r} is invalid: must be a number > 0")
        return s


def check_cfg(cfg) -> None:
    if cfg.dataset.name != "gaussian":
        raise ConfigError(f"dataset={cfg.dataset.name!r} is invalid for analysis.mode=phase: "
                          "phase diagrams need dataset=gaussian")
    if cfg.optim.name != "sgd" or float(cfg.optim.momentum) != 0.0:
        raise ConfigError(f"optim={cfg.optim.name!r} is invalid for analysis.mode=phase: the grid "
                          "trains with plain SGD (optim=sgd, optim.momentum=0)")


# --- the batched runs --------------------------------------------------------------------------
@dataclass
class GridResult:
    final_distance: torch.Tensor     # [G] (diverged points: where they were frozen)
    max_distance: torch.Tensor       # [G] the largest distance reached (up to the freeze)
    initial_distance: torch.Tensor   # [G]
    diverged_at: torch.Tensor        # [G] long, 0 = never
    steps_done: int
    history: dict[int, list[float]]  # step -> [G] distances (when record_every > 0)
    game: "object"

    @property
    def diverged(self) -> torch.Tensor:
        return self.diverged_at > 0


def run_grid(cfg, lrs: Sequence[float] | torch.Tensor, gammas: Sequence[float] | torch.Tensor,
             steps: int, *, diverge_factor: float = 10.0, max_param_norm: float = 1e6,
             record_every: int = 0, device: str = "cpu", progress: bool = False) -> GridResult:
    """Train G = len(lrs) = len(gammas) points at once; point k has lr lrs[k] and γ gammas[k].

    ``cfg`` gives the game, the method (and its options), batch size, seed and dtype.
    ``record_every`` > 0 keeps every point's distance at step 0, every ``record_every`` steps and
    the last step (the steps ``gantrain.train`` logs with ``log_every``)."""
    from gantrain.games.gaussian_grid import GaussianGridGame
    from gantrain.optim.stacked import PlayerOptimizer
    from gantrain.rules import RULES, build_rule

    dtype = getattr(torch, cfg.dtype)
    lrs = torch.as_tensor(lrs, dtype=dtype, device=device).reshape(-1)
    gammas = torch.as_tensor(gammas, dtype=dtype, device=device).reshape(-1)
    if lrs.shape != gammas.shape:
        raise ValueError(f"lrs and gammas must pair up; got {lrs.numel()} and {gammas.numel()}")
    size = lrs.numel()
    torch.manual_seed(cfg.seed)
    game = GaussianGridGame(cfg.dataset, cfg.arch, cfg.loss.name, device, dtype, size)
    # a rule whose field depends on the step (CGD's η): each point's own
    options = RULES[cfg.method.name].at_step({k: v for k, v in cfg.method.items() if k != "name"}, lrs)
    rule = build_rule(cfg.method.name, gammas, options)
    # plain SGD, each point at its own step size: the single run's optimizer over the grid
    opt_d = PlayerOptimizer(cfg.optim, game.d_params(), lrs.tolist())
    opt_g = PlayerOptimizer(cfg.optim, game.g_params(), lrs.tolist())
    rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    params = [*game.g_params(), *game.d_params()]

    d0 = game.distances()
    limit = diverge_factor * d0
    alive = torch.ones(size, dtype=torch.bool, device=device)
    diverged_at = torch.zeros(size, dtype=torch.long, device=device)
    max_dist = d0.clone()
    history = {0: d0.tolist()} if record_every > 0 else {}
    from tqdm import tqdm
    bar = tqdm(total=steps, disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"phase {cfg.method.name} ({size} points)")
    step = 0
    for step in range(1, steps + 1):
        before = [p.detach().clone() for p in params]
        rule.train_step(game, opt_d, opt_g, int(cfg.batch_size), rng)
        with torch.no_grad():
            dist, pnorm = game.distances(), game.point_param_norms()
            bad = (~torch.isfinite(dist) | ~torch.isfinite(pnorm) | (pnorm > max_param_norm)
                   | (dist > limit))
            diverged_at = torch.where(bad & alive, step, diverged_at)
            alive = alive & ~bad
            max_dist = torch.where(alive, torch.maximum(max_dist, dist), max_dist)
            for p, q in zip(params, before):  # frozen points stay at their last good values
                p.copy_(torch.where(alive.reshape(-1, *[1] * (p.dim() - 1)), p, q))
        if record_every > 0 and (step % record_every == 0 or step == steps):
            history[step] = game.distances().tolist()
        bar.update(1)
        if step % 100 == 0 and not bool(alive.any()):
            break  # every point has diverged: nothing moves any more
    bar.close()
    return GridResult(final_distance=game.distances(), max_distance=max_dist, initial_distance=d0,
                      diverged_at=diverged_at, steps_done=step, history=history, game=game)


def classify(result: GridResult, tol: float) -> list[str]:
    """Each point's class: diverged, converged (final distance < ``tol``) or too_slow.

    Args:
        result: the trained grid.
        tol: the convergence radius.
    Returns:
        one class per point.
    """
    out = []
    for dist, div in zip(result.final_distance.tolist(), result.diverged_at.tolist()):
        out.append("diverged" if div > 0 else "converged" if dist < tol else "too_slow")
    return out


# --- the figure --------------------------------------------------------------------------------
def log_edges(values: Sequence[float]) -> np.ndarray:
    """Cell edges for log-spaced centres: geometric midpoints, half a step beyond the ends."""
    v = np.log10(np.asarray(values, dtype=float))
    if v.size == 1:
        return 10 ** np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return 10 ** np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def plot_phase(data: dict, path: Path) -> Path:
    """The phase diagram: each point's class, Lemma 4's boundary over it.

    Args:
        data: phase.json's content.
        path: the file to write.
    Returns:
        the path written.
    """
    from gantrain.analysis.plots import save_figure
    from gantrain.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.0), dpi=110)
    draw_phase(ax, data)
    return save_figure(plt, fig, path, "")


def draw_classes(ax, lrs: Sequence[float], gammas: Sequence[float],
                 classes: list[list[str]]) -> None:
    """Each (lr, γ) point's class as a coloured cell on log axes.

    Args:
        ax: the matplotlib axes.
        lrs, gammas: the axes' values (rows, columns).
        classes: [i][j] at lrs[i], gammas[j].
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    codes = np.array([[CLASSES.index(c) for c in row] for row in classes], dtype=float)
    cmap = ListedColormap([CLASS_COLORS[c] for c in CLASSES])
    gx, ly = log_edges(gammas), log_edges(lrs)
    ax.pcolormesh(gx, ly, codes, cmap=cmap, norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], cmap.N),
                  shading="flat")
    ax.set(xscale="log", yscale="log", xlim=(gx[0], gx[-1]), ylim=(ly[0], ly[-1]),
           xlabel="γ (regularizer weight)", ylabel="lr (SGD step size η)")


def draw_phase(ax, data: dict) -> None:
    """The Gaussian phase diagram (phase.json's content) on ``ax``.

    Args:
        ax: the matplotlib axes.
        data: phase.json's content.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    draw_classes(ax, data["lrs"], data["gammas"], data["classes"])
    b = data["lemma4"]
    curve = np.array([np.nan if (h is None or h <= 0) else h for h in b["max_stable_lr"]], float)
    ax.plot(b["gammas"], curve, color="k", lw=2, label="Lemma 4: max stable lr")
    d = data["dataset"]
    ax.set_title(f"{data['method']}: μ = {d['mu']:g}, σ = {d['sigma']:g}, {data['steps']} steps "
                 f"(batch {data['batch_size']}, tol {data['tol']:g})", fontsize=10)
    handles = [Patch(facecolor=CLASS_COLORS[c], edgecolor="0.3",
                     label=f"{c} ({data['counts'][c]})") for c in CLASSES]
    handles.append(Line2D([], [], color="k", lw=2, label="Lemma 4 bound (expected field)"))
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9)


# --- the command -------------------------------------------------------------------------------
def run_phase_diagram(cfg, out_dir: Path) -> dict:
    """Train the (lr, γ) grid of ``cfg.phase`` in one batch, classify, draw; writes phase.json and
    phase.png in ``out_dir`` and returns the JSON's content."""
    from gantrain.config import validate
    from gantrain.engine import resolve_device
    from gantrain.tracking import write_json

    validate(cfg)
    check_cfg(cfg)
    s = PhaseSettings.from_cfg(cfg)
    device = resolve_device(cfg.device)
    n_lr, n_g = len(s.lrs), len(s.gammas)
    # Point k = i·n_g + j has lr lrs[i] and γ gammas[j]: rows are step sizes, columns γ.
    lr_k = [lr for lr in s.lrs for _ in s.gammas]
    gamma_k = [g for _ in s.lrs for g in s.gammas]
    t0 = time.perf_counter()
    result = run_grid(cfg, lr_k, gamma_k, s.steps, diverge_factor=s.diverge_factor,
                      max_param_norm=s.max_param_norm, device=device, progress=bool(cfg.progress))
    if device == "cuda":
        torch.cuda.synchronize()
    grid_s = time.perf_counter() - t0
    classes = classify(result, s.tol)
    final = result.final_distance.cpu().tolist()
    div_at = result.diverged_at.cpu().tolist()
    shape = lambda xs: [xs[i * n_g:(i + 1) * n_g] for i in range(n_lr)]  # noqa: E731
    t1 = time.perf_counter()
    lemma4 = lemma4_section(cfg, s, shape(classes))
    boundary_s = time.perf_counter() - t1
    data = {
        "method": cfg.method.name, "loss": cfg.loss.name,
        "dataset": {"name": "gaussian", "mu": float(cfg.dataset.mu),
                    "sigma": float(cfg.dataset.sigma), "dim": int(cfg.dataset.dim),
                    "initial_distance": float(result.initial_distance[0])},
        "batch_size": int(cfg.batch_size), "seed": int(cfg.seed), "dtype": cfg.dtype,
        "device": device, "steps": s.steps, "steps_done": result.steps_done,
        "tol": s.tol, "diverge_factor": s.diverge_factor, "max_param_norm": s.max_param_norm,
        "lrs": s.lrs, "gammas": s.gammas,
        "layout": "classes, final_distance, max_distance, diverged_at: [i][j] is lr = lrs[i], "
                  "gamma = gammas[j]; diverged_at is the step (null: never); a diverged point's "
                  "final_distance is where it was frozen, its max_distance the largest before",
        "classes": shape(classes),
        "final_distance": shape([d if math.isfinite(d) else None for d in final]),
        "max_distance": shape([d if math.isfinite(d) else None
                               for d in result.max_distance.cpu().tolist()]),
        "diverged_at": shape([k if k > 0 else None for k in div_at]),
        "counts": {c: classes.count(c) for c in CLASSES},
        "lemma4": lemma4,
        "timings": {"grid_s": round(grid_s, 4), "boundary_s": round(boundary_s, 4),
                    "points": n_lr * n_g,
                    "ms_per_step": round(1e3 * grid_s / max(result.steps_done, 1), 4),
                    "point_steps_per_s": round(n_lr * n_g * result.steps_done / grid_s, 1)},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t2 = time.perf_counter()
    plot_phase(data, out_dir / "phase.png")
    data["timings"]["plot_s"] = round(time.perf_counter() - t2, 4)
    write_json(out_dir / "phase.json", data)
    print_summary(cfg, data, out_dir)
    return data


def print_summary(cfg, data: dict, out_dir: Path) -> None:
    """Two lines on the grid and Lemma 4, and where the files went."""
    c, t = data["counts"], data["timings"]
    print(f"phase diagram: {cfg.method.name}, mu={cfg.dataset.mu:g}, sigma={cfg.dataset.sigma:g}, "
          f"{len(data['lrs'])}x{len(data['gammas'])} points x {data['steps']} steps in "
          f"{t['grid_s']:.2f} s (Lemma 4 boundary {t['boundary_s']:.2f} s)")
    print(f"  converged {c['converged']}  too_slow {c['too_slow']}  diverged {c['diverged']}  "
          f"Lemma 4 agreement {100 * data['lemma4']['agreement']:.1f}%")
    print(f"wrote {out_dir}/phase.json and {out_dir}/phase.png")
