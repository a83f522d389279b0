"""The zoo's plan: conf/zoo.yaml read into a ``Plan``, and the jobs it makes (a training run per
(game, rule, seed), a phase diagram per (rule, μ)), each with the overrides of the command it
stands for."""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

CONFIG_NAME = "zoo"   # gantrain/conf/zoo.yaml


def compose_config(name: str, overrides: Sequence[str] = ()):
    """Compose one of gantrain's shipped configs (``train``, ``analyze``, ``zoo``) as Hydra would.

    Args:
        name: the primary config's name in gantrain/conf/.
        overrides: Hydra overrides (``key=value``).

    Returns:
        The composed DictConfig.
    """
    from hydra import compose, initialize_config_dir

    from gantrain.cli import CONFIG_DIR
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


@dataclass(frozen=True)
class Plan:
    """What ``zoo run`` trains and draws (conf/zoo.yaml, its ``quick`` part applied or not)."""
    gamma: float                   # the runs' γ, and the phase column of the rules without a γ
    seeds: tuple[int, ...]
    games: dict[str, list[str]]    # game -> gantrain overrides, in the order jobs are queued
    phase: dict[str, Any]          # mus, lrs, gammas, steps, boundary_points

    @property
    def parts(self) -> tuple[str, ...]:
        """What ``--parts`` may name: every game, and ``phase``."""
        return (*self.games, "phase")


@functools.lru_cache(maxsize=1)
def _plan_config() -> dict:
    from omegaconf import OmegaConf
    return OmegaConf.to_container(compose_config(CONFIG_NAME), resolve=True)


def load_plan(quick: bool = False) -> Plan:
    """Read conf/zoo.yaml.

    Args:
        quick: apply its ``quick`` part (``zoo run --quick``, ``make zoo QUICK=1``): its games'
            overrides are appended to the full ones, its ``seeds`` and ``phase`` keys replace them.

    Returns:
        The plan.
    """
    cfg = copy.deepcopy(_plan_config())
    quick_part = cfg.pop("quick", None) or {}
    delta = quick_part if quick else {}
    more = delta.get("games") or {}
    return Plan(gamma=float(cfg["gamma"]), seeds=tuple(delta.get("seeds", cfg["seeds"])),
                games={g: [*map(str, ovs), *map(str, more.get(g, ()))]
                       for g, ovs in cfg["games"].items()},
                phase={**cfg["phase"], **(delta.get("phase") or {})})


def rule_names() -> list[str]:
    """Every registered update rule, sorted: the zoo's default rules."""
    from gantrain.rules import RULES
    return sorted(RULES)


def uses_gamma(method: str) -> bool:
    """Whether the rule takes a γ (its class says so; a rule not registered here is taken to)."""
    from gantrain.rules import RULES
    return RULES[method].uses_gamma if method in RULES else True


def _list(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:g}" for v in values) + "]"


def train_overrides(plan: Plan, game: str, method: str, seed: int,
                    extra: Sequence[str] = ()) -> list[str]:
    """The gantrain overrides of one training run."""
    return [*plan.games[game], f"method={method}", f"seed={seed}", "logger=none",
            "progress=false", *extra]


def phase_overrides(plan: Plan, method: str, mu: float, extra: Sequence[str] = ()) -> list[str]:
    """The gantrain-analyze overrides of one diagram: the zoo's Gaussian game at μ (the training
    runs' preset), the γ grid only for rules that take a γ."""
    grid, gamma = plan.phase, plan.gamma
    gammas = grid["gammas"] if uses_gamma(method) else [gamma]
    return ["analysis.mode=phase", f"experiment=gaussian_mu{mu:g}", f"method={method}",
            f"gamma={gamma:g}", f"phase.lrs={_list(grid['lrs'])}", f"phase.gammas={_list(gammas)}",
            f"phase.steps={grid['steps']}", f"phase.boundary_points={grid['boundary_points']}",
            "progress=false", "logger=none", *extra]


@dataclass
class Job:
    """One training run, ensemble of runs or phase diagram, and where it writes."""
    kind: str              # "train", "ensemble" (its members: train jobs) or "phase"
    game: str              # a Plan.games key, or "phase"
    method: str
    label: str             # seed=<s>, seeds=<s,...> or mu=<μ>
    overrides: list[str]
    out: str
    threads: int = 0       # torch threads in the worker (0: leave as is)
    members: list["Job"] = field(default_factory=list)   # an ensemble's runs

    @property
    def command(self) -> str:
        """The command line the job stands for (written to its command.txt)."""
        prog = "gantrain" if self.kind == "train" else "gantrain-analyze"
        return " ".join([prog, *self.overrides, f"hydra.run.dir={self.out}"])


def make_jobs(plan: Plan, out: Path, methods: Sequence[str], parts: Sequence[str],
              extra: Sequence[str] = (), phase_extra: Sequence[str] = (), threads: int = 0,
              seeds: Sequence[int] | None = None) -> list[Job]:
    """Every job of the chosen parts, in the plan's order (the costly ones first, then the phase
    diagrams), so that a pool's workers finish together.

    Args:
        plan: the plan (``load_plan``).
        out: the folder of <game>/<method>/seed=<s> and phase/<method>/mu=<μ>.
        methods: the rules.
        parts: games of the plan, and ``phase``.
        extra: more gantrain overrides for every training run.
        phase_extra: more gantrain-analyze overrides for every diagram.
        threads: torch threads in each worker (0: leave as is).
        seeds: instead of the plan's.

    Returns:
        The jobs.
    """
    seeds = plan.seeds if seeds is None else seeds
    jobs = [Job("train", game, m, f"seed={s}", train_overrides(plan, game, m, s, extra),
                str(Path(out) / game / m / f"seed={s}"), threads)
            for game in plan.games if game in parts for m in methods for s in seeds]
    if "phase" in parts:
        jobs += [Job("phase", "phase", m, f"mu={mu:g}", phase_overrides(plan, m, mu, phase_extra),
                     str(Path(out) / "phase" / m / f"mu={mu:g}"), threads)
                 for m in methods for mu in plan.phase["mus"]]
    return jobs


def as_ensembles(jobs: list[Job]) -> list[Job]:
    """The training runs of one (game, rule) that ``launcher=ensemble`` could train together
    (gantrain.ensemble: the seeds' runs stacked, one process), as one job whose members they are,
    where its first run was; every other job unchanged. Each member still writes its own run
    directory, as its own ``gantrain`` run would.

    Args:
        jobs: from ``make_jobs``.
    Returns:
        the jobs, grouped.
    """
    from gantrain.ensemble.launcher import member_problem

    out: list[Job] = []
    groups: dict[tuple[str, str], Job | None] = {}
    for j in jobs:
        key = (j.game, j.method)
        if j.kind == "train" and key not in groups:
            fits = member_problem(compose_config("train", j.overrides)) is None
            groups[key] = Job("ensemble", j.game, j.method, "", j.overrides,
                              str(Path(j.out).parent), j.threads) if fits else None
            if fits:
                out.append(groups[key])
        group = groups.get(key) if j.kind == "train" else None
        if group is None:
            out.append(j)
        else:
            group.members.append(j)
    for g in out:
        if g.kind == "ensemble":
            g.label = "seeds=" + ",".join(m.label.removeprefix("seed=") for m in g.members)
    return [g.members[0] if g.kind == "ensemble" and len(g.members) == 1 else g for g in out]
