"""Update fields of the DiracGAN over the (φ, θ) plane, with trajectories (`analysis.mode=field`),
as in Mescheder, Geiger & Nowozin 2018's Fig. 1 (docs/experiments.md §G).

The vector drawn at a point w for a method is what the method really does there: (w′ − w)/lr,
w′ the result of ONE ``rule.train_step`` from w with plain SGD at lr (``optim=sgd``), the rule
freshly built by ``gantrain.rules.build_rule``. For a rule that steps along one direction u(w)
(SimGD, ConOpt, JARE, SGA, R1/R2, CGD, ...) this is −u(w) exactly, the field w' = −u(w) whose
Jacobian `gantrain-analyze` takes; for AltGD and extragradient it is their one-step equivalent
field, which depends on lr.

A stateful rule (``rule.stateful``: optimistic gradient keeps the previous step's gradient) has no
step of its own at a point without a history. Here it gets the plainest one: it arrived at w from
one SimGD step back, w_prev = 2w − w_simgd = w + lr·v(w) (w_simgd: one SimGD step from w; a SimGD
step from w_prev lands on w up to O(lr²)). One ``train_step`` from w_prev primes the rule's state,
the parameters are put back at w exactly, and the measured step follows. For optimistic gradient
the vector is then −(2v(w) − v(w + lr·v(w))) = −v(w) + O(lr).

Trajectories iterate the same ``train_step`` with SGD from each start point for ``steps`` steps:
with ``lr = optim.lr`` and the dataset's start they are the iterates of
``gantrain dataset=dirac method=<m>`` (in float64). A trajectory stops early when a parameter goes
non-finite or the parameter norm passes ``divergence.max_param_norm``.

Everything runs in float64 on the CPU: the game has two parameters.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from gantrain.checks import required
from gantrain.errors import ConfigError

KEYS = ("methods", "extent", "grid", "lr", "steps", "starts")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _plain(v):
    return OmegaConf.to_container(v, resolve=True) if isinstance(v, (DictConfig, ListConfig)) else v


# --- config ------------------------------------------------------------------------------------
@dataclass
class FieldSettings:
    methods: list[str]
    extent: float          # the plane is [−extent, extent]² around the equilibrium
    grid: int              # points per axis
    lr: float              # SGD step size of every step (null in the config: optim.lr)
    steps: int             # trajectory length (null in the config: the run's ``steps``)
    starts: list[list[float]]   # trajectory starts [φ, θ] (null: the dataset's init)

    @classmethod
    def from_cfg(cls, cfg) -> "FieldSettings":
        from gantrain.rules import RULES

        f = cfg.get("field")
        if f is None:
            raise ConfigError("field is missing: analysis.mode=field needs the field: section of "
                              "conf/analyze.yaml")
        f = _plain(f)
        unknown = sorted(set(f) - set(KEYS))
        if unknown:
            raise ConfigError(f"field.{unknown[0]} is not a known key; allowed: "
                              f"{', '.join(sorted(KEYS))}")
        methods = f.get("methods")
        if not (isinstance(methods, list) and methods and all(isinstance(m, str) for m in methods)):
            raise ConfigError(f"field.methods={methods!r} is invalid: must be a non-empty list of "
                              f"methods; allowed: {', '.join(sorted(RULES))}")
        for m in methods:
            if m not in RULES:
                raise ConfigError(f"field.methods={methods!r} is invalid: {m!r} is not a method; "
                                  f"allowed: {', '.join(sorted(RULES))}")
        extent, grid = (required(f, k, "field") for k in ("extent", "grid"))
        if not (_number(extent) and extent > 0):
            raise ConfigError(f"field.extent={extent!r} is invalid: must be a number > 0 (the "
                              "plane's half-width)")
        if not (_integer(grid) and grid >= 2):
            raise ConfigError(f"field.grid={grid!r} is invalid: must be an integer >= 2 (points "
                              "per axis)")
        lr = f.get("lr")
        if lr is None:
            lr = cfg.optim.lr
        elif not (_number(lr) and lr > 0):
            raise ConfigError(f"field.lr={lr!r} is invalid: must be null (optim.lr) or a "
                              "number > 0")
        steps = f.get("steps")
        if steps is None:
            steps = cfg.steps
        elif not (_integer(steps) and steps >= 1):
            raise ConfigError(f"field.steps={steps!r} is invalid: must be null (the run's steps) "
                              "or an integer >= 1")
        starts = f.get("starts")
        if starts is None:
            starts = [[float(cfg.dataset.init_phi), float(cfg.dataset.init_theta)]]
        elif not (isinstance(starts, list) and starts
                  and all(isinstance(s, list) and len(s) == 2 and all(_number(x) for x in s)
                          for s in starts)):
            raise ConfigError(f"field.starts={starts!r} is invalid: must be null (the dataset's "
                              "init_phi, init_theta) or a non-empty list of [phi, theta] pairs")
        s = cls(methods=list(methods), extent=float(extent), grid=int(grid), lr=float(lr),
                steps=int(steps), starts=[[float(x) for x in p] for p in starts])
        for m in s.methods:   # a rule that refuses its options (e.g. gradnorm at γ = 0): now
            try:
                _rule_factory(cfg, m, s.lr)()
            except ValueError as e:
                raise ConfigError(f"field.methods: {m}: {e}") from None
        return s


def check_cfg(cfg) -> None:
    """What the field mode needs beyond the shared schemas: the two-parameter DiracGAN, plain
    SGD, and a GAN loss."""
    from gantrain.games.dirac import check_loss

    if cfg.dataset.name != "dirac":
        raise ConfigError(f"dataset={cfg.dataset.name!r} is invalid for analysis.mode=field: "
                          "vector fields over the (phi, theta) plane need dataset=dirac")
    if cfg.optim.name != "sgd" or float(cfg.optim.momentum) != 0.0:
        raise ConfigError(f"optim={cfg.optim.name!r} is invalid for analysis.mode=field: the field "
                          "and the trajectories use plain SGD (optim=sgd, optim.momentum=0)")
    check_loss(cfg.loss.name)


def _rule_factory(cfg, method: str, lr: float):
    """A builder of fresh rule objects: the config's method options when it is that method, and
    for CGD η = lr (its local game's step is the step taken)."""
    from gantrain.rules import RULES, build_rule

    options = ({k: v for k, v in cfg.method.items() if k != "name"}
               if cfg.method.name == method else {})
    options = RULES[method].at_step(options, lr)
    return lambda: build_rule(method, float(cfg.gamma), options)


# --- the computation ---------------------------------------------------------------------------
class _Stepper:
    """The game, two SGD optimizers at lr, and the batch RNG, for one method."""

    def __init__(self, cfg, lr: float):
        from gantrain.config import validate
        from gantrain.games import build_game

        torch.manual_seed(cfg.seed)
        self.game = build_game(validate(cfg), "cpu", torch.float64)
        self.phi, self.theta = self.game.generator.phi, self.game.discriminator.theta
        from gantrain.optim.sgd import SGDOptions
        from gantrain.optim.stacked import PlayerOptimizer

        self.opt_d = PlayerOptimizer(SGDOptions(lr=lr), self.game.d_params())
        self.opt_g = PlayerOptimizer(SGDOptions(lr=lr), self.game.g_params())
        self.rng = torch.Generator().manual_seed(int(cfg.seed) + 1)
        self.batch_size = int(cfg.batch_size)

    def put(self, w) -> None:
        with torch.no_grad():
            self.phi.fill_(float(w[0]))
            self.theta.fill_(float(w[1]))

    def point(self) -> np.ndarray:
        return np.array([self.phi.item(), self.theta.item()])

    def step(self, rule) -> np.ndarray:
        rule.train_step(self.game, self.opt_d, self.opt_g, self.batch_size, self.rng)
        return self.point()


def field_vector(stepper: _Stepper, new_rule, w, lr: float, simgd) -> np.ndarray:
    """(w′ − w)/lr for one real step from ``w`` (see the module docstring for stateful rules).

    Args:
        stepper: the game, optimizers and batches.
        new_rule: builds a fresh rule.
        w: the point (φ, θ).
        lr: the step size.
        simgd: the plain field's rule (for rules that step more than once).
    Returns:
        the vector (Δφ, Δθ)/lr.
    """
    w = np.asarray(w, dtype=float)
    rule = new_rule()
    if getattr(rule, "stateful", False):
        stepper.put(w)
        w_simgd = stepper.step(simgd)
        stepper.put(2 * w - w_simgd)     # one SimGD step back
        stepper.step(rule)                # primes the rule's memory
    stepper.put(w)
    return (stepper.step(rule) - w) / lr


def trajectory(stepper: _Stepper, new_rule, start, steps: int, max_norm: float) -> dict:
    """A run of ``steps`` real steps from ``start`` (stops when a parameter leaves ``max_norm``).

    Args:
        stepper: the game, optimizers and batches.
        new_rule: builds a fresh rule.
        start: (φ, θ).
        steps: the number of steps.
        max_norm: the divergence threshold.
    Returns:
        {path, final_distance (None: diverged), ...}.
    """
    rule = new_rule()
    stepper.put(start)
    path = [stepper.point()]
    diverged_at = None
    for k in range(1, steps + 1):
        w = stepper.step(rule)
        path.append(w)
        if not np.isfinite(w).all() or np.linalg.norm(w) > max_norm:
            diverged_at = k
            break
    final = float(np.linalg.norm(path[-1]))
    return {"start": [float(x) for x in start], "path": np.array(path).tolist(),
            "steps_done": len(path) - 1, "diverged_at": diverged_at,
            "final_distance": final if math.isfinite(final) else None}


def compute_fields(cfg, s: FieldSettings) -> dict:
    """Every method's field on the grid and its trajectories (float64).

    Args:
        cfg: the composed config.
        s: the field settings.
    Returns:
        field.json's content without the settings.
    """
    from gantrain.rules import plain_rule

    axis = np.linspace(-s.extent, s.extent, s.grid)
    max_norm = float(cfg.divergence.max_param_norm)
    out = {}
    for m in s.methods:
        t0 = time.perf_counter()
        stepper = _Stepper(cfg, s.lr)
        new_rule = _rule_factory(cfg, m, s.lr)
        simgd = plain_rule()
        u = np.zeros((s.grid, s.grid))   # [i][j]: at phi = axis[j], theta = axis[i]
        v = np.zeros((s.grid, s.grid))
        for i, theta in enumerate(axis):
            for j, phi in enumerate(axis):
                u[i, j], v[i, j] = field_vector(stepper, new_rule, (phi, theta), s.lr, simgd)
        field_s = time.perf_counter() - t0
        trajs = [trajectory(stepper, new_rule, p, s.steps, max_norm) for p in s.starts]
        out[m] = {"field_phi": u.tolist(), "field_theta": v.tolist(), "trajectories": trajs,
                  "final_distance": [t["final_distance"] for t in trajs],
                  "timings": {"field_s": round(field_s, 4),
                              "trajectories_s": round(time.perf_counter() - t0 - field_s, 4)}}
    return {"phi": axis.tolist(), "theta": axis.tolist(), "methods": out}


# --- the figure --------------------------------------------------------------------------------
def plot_fields(data: dict, path: Path) -> Path:
    """One panel per method: streamlines of the field, the trajectories, the equilibrium.

    Args:
        data: field.json's content.
        path: the file to write.
    Returns:
        the path written.
    """
    from gantrain.analysis.plots import method_color, save_figure
    from gantrain.plots import pyplot

    plt = pyplot()
    methods = list(data["methods"])
    cols = min(len(methods), 3)
    rows = -(-len(methods) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.5 * rows), dpi=100, squeeze=False)
    x, y = np.array(data["phi"]), np.array(data["theta"])
    ext = data["extent"]
    for ax in axes.flat[len(methods):]:
        ax.set_axis_off()
    for ax, m in zip(axes.flat, methods):
        r = data["methods"][m]
        u = np.ma.masked_invalid(np.array(r["field_phi"], dtype=float))
        v = np.ma.masked_invalid(np.array(r["field_theta"], dtype=float))
        ax.streamplot(x, y, u.filled(0.0), v.filled(0.0), color="0.6", density=1.1,
                      linewidth=0.6, arrowsize=0.8)
        color = method_color(m, "tab:orange")
        for t in r["trajectories"]:
            p = np.array(t["path"], dtype=float)
            ax.plot(p[:, 0], p[:, 1], color=color, lw=1.2)
            ax.plot(*p[0], "o", color=color, ms=4)
        ax.plot(0, 0, "*", color="tab:red", ms=11, mec="k", mew=0.5, zorder=5)
        final = [d for d in r["final_distance"] if d is not None]
        label = f"final ‖w‖ {max(final):.2g}" if final else "diverged"
        ax.set(xlim=(-ext, ext), ylim=(-ext, ext), aspect="equal", xlabel="φ (generator)",
               ylabel="θ (discriminator)")
        ax.set_title(f"{m}: {label}", fontsize=9)
    fig.suptitle(f"DiracGAN ({data['loss']}), lr {data['lr']:g}, γ {data['gamma']:g}, "
                 f"{data['steps']} steps", fontsize=10)
    return save_figure(plt, fig, path, "")


# --- the command -------------------------------------------------------------------------------
def run_field(cfg, out_dir: Path) -> dict:
    """Fields and trajectories of ``field.methods``; writes field.json and field.png in
    ``out_dir`` and returns the JSON's content.

    Args:
        cfg: the composed config.
        out_dir: where to write.
    Returns:
        field.json's content.
    """
    from gantrain.config import validate
    from gantrain.tracking import write_json

    validate(cfg)
    check_cfg(cfg)
    s = FieldSettings.from_cfg(cfg)
    t0 = time.perf_counter()
    fields = compute_fields(cfg, s)
    data = {
        "dataset": "dirac", "loss": cfg.loss.name, "gamma": float(cfg.gamma), "lr": s.lr,
        "batch_size": int(cfg.batch_size), "seed": int(cfg.seed), "dtype": "float64",
        "extent": s.extent, "grid": s.grid, "steps": s.steps, "starts": s.starts,
        "equilibrium": [0.0, 0.0],
        "layout": "methods[m].field_phi[i][j], field_theta[i][j]: the vector (w′ − w)/lr of one "
                  "train_step with SGD at lr from (phi[j], theta[i]); trajectories[k].path: the "
                  "iterates from starts[k], the start first; final_distance: ‖w‖ at the end "
                  "(the equilibrium is 0)",
        "stateful_rules": "primed by one step from one SimGD step back (2w − w_simgd), then "
                          "measured from w",
        **fields,
        "total_s": None,
    }
    data["total_s"] = round(time.perf_counter() - t0, 3)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_fields(data, out_dir / "field.png")
    write_json(out_dir / "field.json", data)
    for m, r in data["methods"].items():
        final = ", ".join("diverged" if d is None else f"{d:.3g}" for d in r["final_distance"])
        print(f"{m:14s} final distance to equilibrium after {s.steps} steps: {final}  "
              f"({r['timings']['field_s'] + r['timings']['trajectories_s']:.2f} s)")
    print(f"wrote {out_dir}/field.json and {out_dir}/field.png")
    return data
