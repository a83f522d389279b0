"""Phase diagrams of a neural game: the (η, γ) grid of the mixture-of-Gaussians game (dataset=mog)
with MLP players, each grid point an ordinary run trained in a stacked ensemble (gantrain.ensemble).

Every point (lrs[i], gammas[j]) is the run of the composed config with ``eta`` = ``optim.lr`` =
lrs[i], ``gamma`` = gammas[j] and ``phase.steps`` steps, everything else (seed, arch, optimizer,
batch size, cadences) shared; points are packed into ensembles of up to
``phase.neural.ensemble_size`` members (``gantrain.ensemble.train_ensemble``), and each writes its
own run directory ``points/lr<i>_gamma<j>`` (config.yaml, metrics.jsonl, checkpoints,
summary.json), so a point is exactly the single ``gantrain`` run of its settings and a rerun in the
same folder resumes. Each point ends in one class, read from its summary.json:

- ``diverged``: the run's status is ``diverged`` (a non-finite loss or parameter norm, or a
  parameter norm above ``divergence.max_param_norm``);
- ``converged``: its final mode metrics cover at least ``phase.neural.min_modes`` modes (null: all
  ``dataset.modes``) with ``high_quality_fraction`` ≥ ``phase.neural.min_high_quality``, and its
  final gradient norm ‖(∇_θ L_D, ∇_φ L_G)‖ on the last step's batch (``grad_norm_d``,
  ``grad_norm_g`` of metrics.jsonl) is ≤ ``phase.neural.grad_tol``;
- ``too_slow`` (crawled): neither.

Lemma 4 (docs/methods.md §5): at each point's final checkpoint (a diverged point's last good one)
the spectrum of the rule's field is taken exactly as ``gantrain-analyze analysis.point=<run dir>``
takes it (float64, mean over ``analysis.batches`` batches, dense up to ``analysis.dense_max``
parameters, else Arnoldi top-``analysis.k``), and its ``max stable lr`` recorded: the largest
plain-SGD step for which I + lr·J is stable there. With another optimizer (rmsprop_tf, adam) the
run's steps are preconditioned and the bound is plain SGD's, drawn for reference only.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from gantrain.analysis.phase import CLASSES, axis_values
from gantrain.checks import required
from gantrain.errors import ConfigError

DATASETS = ("mog",)   # games with mode metrics that the ensemble trains
NEURAL_KEYS = {"lr_range", "gamma_range", "ensemble_size", "min_modes", "min_high_quality",
               "grad_tol", "lemma4", "gaussian", "gaussian_overrides"}


@dataclass
class NeuralPhaseSettings:
    lrs: list[float]
    gammas: list[float]
    steps: int
    ensemble_size: int
    min_modes: int | None
    min_high_quality: float
    grad_tol: float
    lemma4: bool
    gaussian: bool
    gaussian_overrides: tuple[str, ...]

    @classmethod
    def from_cfg(cls, cfg) -> "NeuralPhaseSettings":
        """The grid's settings: phase.lrs / phase.gammas (else phase.neural's ranges), phase.steps
        and phase.neural's keys, each checked (one line naming the key and what is allowed)."""
        p = cfg.get("phase")
        n = p.get("neural") if p is not None else None
        if n is None:
            raise ConfigError("phase.neural is missing: analysis.mode=phase on a neural game needs "
                              "the phase.neural section of conf/analyze.yaml")
        unknown = sorted(set(n) - NEURAL_KEYS)
        if unknown:
            raise ConfigError(f"phase.neural.{unknown[0]} is not a known key; allowed: "
                              f"{', '.join(sorted(NEURAL_KEYS))}")
        s = cls(lrs=axis_values(p.get("lrs"), n.get("lr_range"), "lrs", "neural.lr_range"),
                gammas=axis_values(p.get("gammas"), n.get("gamma_range"), "gammas",
                                   "neural.gamma_range"),
                steps=required(p, "steps", "phase"),
                **{k: required(n, k, "phase.neural") for k in (
                    "ensemble_size", "min_modes", "min_high_quality", "grad_tol", "lemma4",
                    "gaussian")},
                gaussian_overrides=tuple(required(n, "gaussian_overrides", "phase.neural") or ()))
        s.check(int(cfg.dataset.modes))
        return s

    def check(self, modes: int) -> None:
        def positive_int(key, v, lo=1):
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= lo):
                raise ConfigError(f"phase.{key}={v!r} is invalid: must be an integer >= {lo}")

        positive_int("steps", self.steps)
        positive_int("neural.ensemble_size", self.ensemble_size)
        if self.min_modes is not None:
            positive_int("neural.min_modes", self.min_modes)
            if self.min_modes > modes:
                raise ConfigError(f"phase.neural.min_modes={self.min_modes} is invalid: must be "
                                  f"null or at most dataset.modes={modes}")
        q = self.min_high_quality
        if not (isinstance(q, (int, float)) and not isinstance(q, bool) and 0 <= q <= 1):
            raise ConfigError(f"phase.neural.min_high_quality={q!r} is invalid: must be in [0, 1]")
        t = self.grad_tol
        if not (isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0):
            raise ConfigError(f"phase.neural.grad_tol={t!r} is invalid: must be a number > 0")
        for key in ("lemma4", "gaussian"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"phase.neural.{key}={getattr(self, key)!r} is invalid: must be "
                                  "true or false")


def check_cfg(cfg) -> None:
    """One line when the config cannot make a neural phase diagram (before any work).

    Args:
        cfg: the composed analyze config.
    """
    from gantrain.ensemble.coverage import check_member_config

    if cfg.dataset.name not in DATASETS:
        raise ConfigError(f"dataset={cfg.dataset.name!r} is invalid for analysis.mode=phase: "
                          f"allowed: gaussian (the batched toy grid), {', '.join(DATASETS)} "
                          "(MLP players, trained as ensembles)")
    try:
        check_member_config(cfg)
    except ConfigError as e:   # the ensemble's own refusal, named for this mode
        raise ConfigError(str(e).replace("with launcher=ensemble", "for analysis.mode=phase")) \
            from None


# --- the grid ----------------------------------------------------------------------------------
def point_config(cfg: DictConfig, lr: float, gamma: float, steps: int) -> DictConfig:
    """The run config of one grid point: ``cfg`` with its η (optim.lr), γ and steps, without the
    analyze-only sections.

    Args:
        cfg: the composed analyze config.
        lr, gamma, steps: the point's step size, regularizer weight and steps.
    Returns:
        the point's config.
    """
    c = copy.deepcopy(cfg)
    with open_dict(c):
        for key in ("phase", "field"):
            c.pop(key, None)
        c.eta, c.optim.lr, c.gamma, c.steps = float(lr), float(lr), float(gamma), int(steps)
        c.progress = False
    return c


def point_dir(out_dir: Path, i: int, j: int) -> Path:
    """Where point (lrs[i], gammas[j]) keeps its run."""
    return Path(out_dir) / "points" / f"lr{i}_gamma{j}"


def train_points(cfg, s: NeuralPhaseSettings, out_dir: Path) -> list[dict]:
    """Train every grid point, ``ensemble_size`` at a time; their summaries, point k = i·n_g + j.

    Args:
        cfg: the composed analyze config.
        s: the settings.
        out_dir: the command's output folder.
    Returns:
        the summaries in point order.
    """
    from gantrain.ensemble import train_ensemble

    jobs = [(point_config(cfg, lr, g, s.steps), point_dir(out_dir, i, j))
            for i, lr in enumerate(s.lrs) for j, g in enumerate(s.gammas)]
    out: list[dict] = []
    for start in range(0, len(jobs), s.ensemble_size):
        chunk = jobs[start:start + s.ensemble_size]
        print(f"  training points {start + 1}-{start + len(chunk)} of {len(jobs)} "
              f"({len(chunk)} members)", flush=True)
        out.extend(train_ensemble([c for c, _ in chunk], [d for _, d in chunk]))
    return out


def classify_point(summary: dict | None, s: NeuralPhaseSettings, modes: int) -> tuple[str, dict]:
    """A point's class and the final metrics it was judged by (module docstring).

    Args:
        summary: the point's summary.json content.
        s: the settings (thresholds).
        modes: the mixture's number of modes.
    Returns:
        (class, {modes_covered, high_quality_fraction, grad_norm, status, steps_done}).
    """
    if summary is None or summary.get("status") not in ("completed", "diverged"):
        status = None if summary is None else summary.get("status")
        raise RuntimeError(f"a grid point ended {status!r}; rerun the command to resume it")
    m = summary.get("metrics", {})
    gd, gg = m.get("grad_norm_d"), m.get("grad_norm_g")
    grad = math.hypot(gd, gg) if gd is not None and gg is not None else None
    metrics = {"status": summary["status"], "steps_done": summary["steps_done"],
               "modes_covered": m.get("modes_covered"),
               "high_quality_fraction": m.get("high_quality_fraction"),
               "mode_kl": m.get("mode_kl"), "grad_norm": grad}
    if summary["status"] == "diverged":
        return "diverged", metrics
    need = modes if s.min_modes is None else s.min_modes
    ok = (metrics["modes_covered"] is not None and metrics["modes_covered"] >= need
          and (metrics["high_quality_fraction"] or 0.0) >= s.min_high_quality
          and grad is not None and math.isfinite(grad) and grad <= s.grad_tol)
    return ("converged" if ok else "too_slow"), metrics


def point_bound(point_cfg: DictConfig, run_dir: Path) -> dict:
    """Lemma 4 at a point's final checkpoint, as ``gantrain-analyze analysis.point=<run_dir>``
    (spectrum mode) computes it: the run's game in float64, the rule's field, its spectrum.

    Args:
        point_cfg: the point's run config.
        run_dir: its run directory (checkpoints/last.pt).
    Returns:
        {max_stable_lr (the spectrum mode's), stable, decaying_max_stable_lr (Lemma 4 over the
        eigenvalues with Re λ < 0 only), spectrum, n_params, max_real_part,
        nonnegative_real_parts (how many eigenvalues found have Re λ ≥ 0)}.
    """
    import torch

    from gantrain.analysis.spectrum import analyze, move_to_point
    from gantrain.analysis.stability import max_stable_step
    from gantrain.config import validate
    from gantrain.games import build_game

    if not (Path(run_dir) / "checkpoints" / "last.pt").is_file():   # diverged before any
        return {"max_stable_lr": None, "decaying_max_stable_lr": None,
                "note": "no checkpoint: the run diverged before its first one"}
    c = copy.deepcopy(point_cfg)
    with open_dict(c):
        c.analysis.point = str(run_dir)
    torch.manual_seed(c.seed)
    game = build_game(validate(c), "cpu", torch.float64)
    r = analyze(c, game, move_to_point(game, str(run_dir), "cpu"))
    ev = np.array([complex(re, im) for re, im in r["eigenvalues"]])
    right = r.get("eigenvalues_largest_real") or r["eigenvalues"]   # top-k: the largest Re λ found
    # Away from an equilibrium some Re λ ≥ 0 (dead units give exact zeros): Lemma 4 says 0. The
    # step the decaying directions allow is what a too-large lr breaks first.
    decaying = None if "multipliers" in r else max_stable_step(ev[ev.real < 0])
    return {"max_stable_lr": r["max_stable_lr"], "stable": r["stable"],
            "decaying_max_stable_lr": decaying, "spectrum": r["spectrum"],
            "n_params": r["n_params"], "max_real_part": max(re for re, _ in right),
            "nonnegative_real_parts": int((ev.real >= 0).sum())}


def grid_bounds(cfg, s: NeuralPhaseSettings, out_dir: Path) -> list[dict | None]:
    """``point_bound`` of every point in point order (None each when ``phase.neural.lemma4`` is
    false), with a line per point: a dense spectrum takes seconds to minutes."""
    if not s.lemma4:
        return [None] * (len(s.lrs) * len(s.gammas))
    out = []
    for i, lr in enumerate(s.lrs):
        for j, g in enumerate(s.gammas):
            t = time.perf_counter()
            out.append(point_bound(point_config(cfg, lr, g, s.steps), point_dir(out_dir, i, j)))
            print(f"  Lemma 4 at point {len(out)} of {len(s.lrs) * len(s.gammas)} (lr {lr:g}, "
                  f"gamma {g:g}): {time.perf_counter() - t:.1f} s", flush=True)
    return out


# --- the command -------------------------------------------------------------------------------
def run_neural_phase(cfg, out_dir: Path) -> dict:
    """Train the (η, γ) grid as ensembles, classify, take Lemma 4 at each final point, draw;
    writes phase.json and phase.png in ``out_dir`` (and gaussian/ with the Gaussian panel's).

    Args:
        cfg: the composed analyze config.
        out_dir: the output folder.
    Returns:
        phase.json's content.
    """
    from gantrain.config import validate
    from gantrain.tracking import write_json

    validate(cfg)
    check_cfg(cfg)
    s = NeuralPhaseSettings.from_cfg(cfg)
    out_dir = Path(out_dir)
    n_lr, n_g, modes = len(s.lrs), len(s.gammas), int(cfg.dataset.modes)
    t0 = time.perf_counter()
    summaries = train_points(cfg, s, out_dir)
    grid_s = time.perf_counter() - t0
    judged = [classify_point(x, s, modes) for x in summaries]
    shape = lambda xs: [xs[i * n_g:(i + 1) * n_g] for i in range(n_lr)]  # noqa: E731
    classes = [c for c, _ in judged]
    t1 = time.perf_counter()
    bounds = grid_bounds(cfg, s, out_dir)
    bound_s = time.perf_counter() - t1
    data = {"method": cfg.method.name, "loss": cfg.loss.name, "optimizer": cfg.optim.name,
            "dataset": {"name": cfg.dataset.name, "modes": modes,
                        "radius": float(cfg.dataset.radius), "std": float(cfg.dataset.std)},
            "arch": {k: cfg.arch[k] for k in ("name", "depth", "width", "z_dim")},
            "batch_size": int(cfg.batch_size), "seed": int(cfg.seed), "dtype": cfg.dtype,
            "steps": s.steps, "lrs": s.lrs, "gammas": s.gammas,
            "rules": {"min_modes": modes if s.min_modes is None else s.min_modes,
                      "min_high_quality": s.min_high_quality, "grad_tol": s.grad_tol},
            "layout": "classes, metrics, lemma4.points: [i][j] is lr = lrs[i], gamma = gammas[j]; "
                      "each point's run directory is points/lr<i>_gamma<j>",
            "classes": shape(classes), "metrics": shape([m for _, m in judged]),
            "counts": {c: classes.count(c) for c in CLASSES},
            "lemma4": lemma4_summary(s, shape(classes), shape(bounds), cfg.optim),
            "timings": {"grid_s": round(grid_s, 2), "lemma4_s": round(bound_s, 2),
                        "points": n_lr * n_g}}
    gaussian = gaussian_panel(cfg, s, out_dir) if s.gaussian else None
    data["gaussian"] = None if gaussian is None else "gaussian/phase.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    from gantrain.analysis.phase_neural_plot import plot_neural_phase
    plot_neural_phase(data, gaussian, out_dir / "phase.png")
    data["timings"]["total_s"] = round(time.perf_counter() - t0, 2)
    write_json(out_dir / "phase.json", data)
    print_summary(data, out_dir)
    return data


def lemma4_summary(s: NeuralPhaseSettings, classes, bounds, optim) -> dict | None:
    """phase.json's ``lemma4`` section: every point's bound and how often it predicts the class."""
    if not s.lemma4:
        return None
    def agreement(key):
        h = [[b[key] for b in row] for row in bounds]
        pred = [[None if x is None else lr < x for x in row] for lr, row in zip(s.lrs, h)]
        pairs = [(p, c != "diverged") for pr, cr in zip(pred, classes) for p, c in zip(pr, cr)
                 if p is not None]
        return h, pred, sum(p == o for p, o in pairs) / len(pairs) if pairs else None

    h, predicted, agree = agreement("max_stable_lr")
    hd, predicted_d, agree_d = agreement("decaying_max_stable_lr")
    sgd = optim.name == "sgd" and float(optim.momentum) == 0.0
    return {"points": bounds, "max_stable_lr": h, "predicted_stable": predicted, "agreement": agree,
            "decaying_max_stable_lr": hd, "decaying_predicted_stable": predicted_d,
            "decaying_agreement": agree_d,
            "note": "max_stable_lr: Lemma 4's largest stable plain-SGD step (I + lr·J stable) at "
                    "the point's final checkpoint (a diverged point's last good one), as "
                    "gantrain-analyze's spectrum mode reports it there; 0 when an eigenvalue "
                    "found has Re λ ≥ 0; decaying_max_stable_lr: the same over the eigenvalues "
                    "with Re λ < 0 only (drawn); agreement = share of the points with a bound "
                    "(null: no checkpoint) where 'not diverged' equals 'lr < bound'"
                    + ("" if sgd else f"; the runs used optim={optim.name}, whose preconditioned "
                       "steps this plain-SGD bound does not cover")}


def gaussian_panel(cfg, s: NeuralPhaseSettings, out_dir: Path) -> dict:
    """The Gaussian game's phase diagram for the same rule (its default settings, plus
    ``phase.neural.gaussian_overrides``), written to ``out_dir/gaussian``."""
    from gantrain.analysis.phase import run_phase_diagram

    # Hydra's override grammar reads null, true/false, numbers and lists as JSON writes them
    plain = lambda v: OmegaConf.to_container(v) if OmegaConf.is_config(v) else v  # noqa: E731
    options = [f"method.{k}={v if isinstance(v, str) else json.dumps(plain(v))}"
               for k, v in cfg.method.items() if k != "name"]
    gcfg = compose_analyze(["dataset=gaussian", f"method={cfg.method.name}", *options,
                            f"seed={cfg.seed}", "logger=none", "progress=false",
                            *s.gaussian_overrides])
    return run_phase_diagram(gcfg, Path(out_dir) / "gaussian")


def compose_analyze(overrides: list[str]) -> DictConfig:
    """The analyze config for ``overrides``, inside a running Hydra app or outside one."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gantrain.cli import CONFIG_DIR
    if GlobalHydra.instance().is_initialized():   # inside gantrain-analyze: its own search path
        return compose("analyze", overrides=overrides)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("analyze", overrides=overrides)


def print_summary(data: dict, out_dir: Path) -> None:
    """Two lines on the grid and Lemma 4, and where the files went."""
    c, t = data["counts"], data["timings"]
    print(f"phase diagram: {data['method']} on {data['dataset']['name']}, "
          f"{len(data['lrs'])}x{len(data['gammas'])} points x {data['steps']} steps in "
          f"{t['grid_s']:.1f} s (Lemma 4 at the final points {t['lemma4_s']:.1f} s)")
    b = data["lemma4"]
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    agreement = "n/a" if b is None else (f"{pct(b['agreement'])} (Re λ < 0 part: "
                                         f"{pct(b['decaying_agreement'])})")
    print(f"  converged {c['converged']}  too_slow {c['too_slow']}  diverged {c['diverged']}  "
          f"Lemma 4 agreement {agreement}")
    print(f"wrote {out_dir}/phase.json and {out_dir}/phase.png")
