"""Dataclass schemas for every config group, chosen by each group's ``name``.

``validate`` merges each composed section into its schema (unknown keys and wrong types fail) and
instantiates it, which runs the range checks in ``__post_init__``. Every failure is one line
naming the key, the value and what is allowed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gantrain.checks import check, check_finite, one_of
from gantrain.config.precision import check_engine
from gantrain.data.registry import DATASETS
from gantrain.errors import ConfigError, first_line
from gantrain.losses import LOSSES
from gantrain.metrics.defaults import ImageEvalSchema
from gantrain.models import ARCHS
from gantrain.optim import OPTIMS
from gantrain.rules import RULES

__all__ = ["Checked", "ConfigError", "GROUPS", "SECTIONS", "TOP_LEVEL_KEYS", "merge", "validate"]


# Each rule's options schema is its class's ``Options`` (gantrain.rules), each dataset's and
# architecture's its registered schema (gantrain.data.registry.DATASETS, gantrain.models.ARCHS): GROUPS.


# --- loss, logger --------------------------------------------------------------------
@dataclass
class Loss:
    name: str

    def __post_init__(self):
        LOSSES.check(self.name, "loss.name")


@dataclass
class Logger:
    name: str = "wandb"
    mode: str = "offline"   # offline (no account needed) | online | disabled
    project: str = "gantrain"
    entity: Optional[str] = None
    group: Optional[str] = None
    tags: list[str] = field(default_factory=list)

    def __post_init__(self):
        one_of("logger.mode", self.mode, ("offline", "online", "disabled"))


@dataclass
class Divergence:
    max_param_norm: float = 1e6   # a parameter norm over this (or any NaN/Inf) ends the run as `diverged`

    def __post_init__(self):
        check(self.max_param_norm > 0, "divergence.max_param_norm", self.max_param_norm, "must be > 0")


@dataclass
class Engine:
    tf32: bool = True              # CUDA: TF32 matmuls/convolutions
    channels_last: bool = True     # CUDA, conv nets: NHWC memory layout
    amp: str = "none"              # none | bf16 (first-order rules only: double backprop stays float32)
    deterministic: bool = False    # torch.use_deterministic_algorithms, no cuDNN autotuning

    def __post_init__(self):
        one_of("engine.amp", self.amp, ("none", "bf16"))


@dataclass
class EMA:
    decay: float = 0.0   # EMA of the generator (buffers included), evaluated beside it; 0: off
    start: int = 0       # first step the EMA follows

    def __post_init__(self):
        check(0 <= self.decay < 1, "ema.decay", self.decay, "must be in [0, 1) (0: off)")
        check(self.start >= 0, "ema.start", self.start, "must be >= 0")


@dataclass
class Analysis:
    """Spectra of the update field (gantrain-analyze, and during training)."""
    mode: str = "spectrum"     # gantrain-analyze: spectrum | phase ((lr, γ) diagram) | field
    every: int = 0             # during training: log the spectrum every K steps (0: off)
    point: str = "equilibrium"  # equilibrium (gaussian) | init | a checkpoint file or run dir
    batches: int = 10          # non-Gaussian games: the Jacobian is averaged over this many batches
    seed: int = 4321           # batches for the analysis come from their own RNG
    dense_max: int = 3000      # full spectrum up to this many parameters, else Arnoldi top-k
    k: int = 6                 # eigenvalues of largest magnitude (and of largest real part), Arnoldi
    quadrature_order: int = 8  # Gauss-Hermite points per dimension (Gaussian game, exact expectation)
    eps: float = 1e-3          # target distance for the iteration lower bounds (Corollaries 1, 2)
    # methods side by side in compare.png (train.yaml names the papers' three)
    compare: list[str] = field(default_factory=list)
    # γ values for factors_vs_gamma.png
    gammas: list[float] = field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0])
    # data means μ for factors_vs_mu.png/.json (dataset=gaussian, point=equilibrium; JARE App. B)
    mus: list[float] = field(default_factory=lambda: [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0])

    def __post_init__(self):
        one_of("analysis.mode", self.mode, ("spectrum", "phase", "field"))
        check(self.every >= 0, "analysis.every", self.every, "must be >= 0 (0: off)")
        for key in ("batches", "dense_max", "k", "quadrature_order"):
            check(getattr(self, key) >= 1, f"analysis.{key}", getattr(self, key), "must be >= 1")
        check(self.eps > 0, "analysis.eps", self.eps, "must be > 0")
        for m in self.compare:
            RULES.check(m, "analysis.compare")
        check(all(g >= 0 for g in self.gammas), "analysis.gammas", self.gammas,
               "must be numbers >= 0")



GROUPS: dict[str, dict[str, type]] = {
    "method": RULES.derived(lambda rule: rule.Options),
    "dataset": DATASETS.derived(lambda schema: schema),
    "arch": ARCHS.derived(lambda schema: schema),
    "loss": LOSSES.derived(lambda _: Loss),
    "optim": OPTIMS.derived(lambda optimizer: optimizer.Options),
    "logger": {"wandb": Logger},
}
@dataclass
class Distributed:
    # torch.distributed (torchrun / SLURM): false = per-process batch norm (statistics over each
    # process's batch_size / W rows, "ghost batches"); true = batch norm over the global batch
    # (gantrain.distributed.SyncBatchNorm, twice differentiable). Ignored in one process.
    sync_batchnorm: bool = False


@dataclass
class Search:
    # gantrain -m hydra/sweeper=optuna: the summary.json metric each trial returns (gantrain.search)
    objective: str = "dist_equilibrium"
    direction: str = "minimize"   # minimize | maximize (Optuna follows it; a diverged run is the worst)

    def __post_init__(self):
        check(bool(self.objective), "search.objective", self.objective, "must name a metric of summary.json")
        one_of("search.direction", self.direction, ("minimize", "maximize"))


SECTIONS: dict[str, type] = {"divergence": Divergence, "eval": ImageEvalSchema, "analysis": Analysis,
                             "engine": Engine, "ema": EMA, "distributed": Distributed, "search": Search}
# The composed config's top level (train.yaml and analyze.yaml; tests/config/test_compose.py keeps
# this in step with them).
TOP_LEVEL_KEYS = frozenset({*GROUPS, *SECTIONS, "gamma", "eta", "steps", "batch_size", "seed",
                            "device", "dtype", "log_every", "checkpoint_every", "keep_last",
                            "resume", "requeue", "progress", "phase", "field"})


def merge(schema: type, section: Any, key: str) -> Any:
    try:
        if isinstance(section, DictConfig):
            section = OmegaConf.to_container(section, resolve=True)
        merged = OmegaConf.merge(OmegaConf.structured(schema), section)
        # a float field converts the string "nan" / "inf" to a float: refuse it before the range checks
        check_finite(OmegaConf.to_container(merged), key)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        full_key = f"{key}.{e.full_key}" if getattr(e, "full_key", None) else key
        raise ConfigError(f"{full_key}: {first_line(e)}") from None


class Checked:
    """A composed config that ``validate`` passed: each group and section as its schema's typed
    object, defaults filled in (``checked.method`` is the rule's ``Options``, ``checked.optim``
    the optimizer's), and the top-level values resolved (``checked.seed``; ``phase`` and
    ``field``, which their own settings classes read, as plain dicts), read by attribute. What a
    run builds (its game, players, data and evaluator) reads this, never the composed config.

    Args:
        sections: key -> its typed object or value.
    """

    def __init__(self, sections: dict[str, Any]):
        self.sections = sections

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["sections"][name]
        except KeyError:
            raise AttributeError(name) from None


def validate(cfg: DictConfig) -> Checked:
    """Check a composed config, before any work.

    Args:
        cfg: the composed config.
    Returns:
        the typed sections (``Checked``).
    Raises:
        ConfigError: one line naming the first bad value and what is allowed.
    """
    sections: dict[str, Any] = {}
    tree = OmegaConf.to_container(cfg, resolve=False)   # ${...} stay strings: named at their source
    tree.pop("hydra", None)
    # `+key=value` adds a key where Hydra finds no group of that name: nothing would read it.
    unknown = sorted(set(tree) - set(TOP_LEVEL_KEYS))
    check(not unknown, unknown[0] if unknown else "", tree.get(unknown[0]) if unknown else None,
           "not a gantrain key (a +key=value override adds a key that nothing reads); "
           f"top-level keys: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    check_finite(tree)
    for group, schemas in GROUPS.items():
        section = cfg.get(group)
        name = section.get("name") if isinstance(section, DictConfig) else None
        if not isinstance(name, str) or name not in schemas:   # options listed for the message only
            one_of(f"{group}.name" if section is not None else group, name, sorted(schemas))
        sections[group] = merge(schemas[name], section, group)
    for key, schema in SECTIONS.items():
        sections[key] = merge(schema, cfg.get(key, {}), key)
    for key, lo in (("steps", 1), ("batch_size", 1), ("log_every", 1), ("checkpoint_every", 1),
                    ("keep_last", 1)):
        value = cfg.get(key)
        check(isinstance(value, int) and not isinstance(value, bool) and value >= lo, key, value,
               f"must be an integer >= {lo}")
    gamma = cfg.get("gamma")
    check(isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and gamma >= 0,
           "gamma", gamma, "must be a number >= 0")
    for m in dict.fromkeys((cfg.method.name, *cfg.get("analysis", {}).get("compare", ()))):
        why = RULES[m].positive_gamma
        check(not why or gamma > 0, "gamma", gamma, f"method={m} needs gamma > 0 ({why})")
    why = RULES[cfg.method.name].positive_gamma
    gammas = list(cfg.get("analysis", {}).get("gammas", ()))
    check(not why or all(g > 0 for g in gammas), "analysis.gammas", gammas,
           f"method={cfg.method.name} needs every γ > 0 ({why})")
    check(isinstance(cfg.get("seed"), int), "seed", cfg.get("seed"), "must be an integer")
    for key in ("resume", "progress", "requeue"):  # a string such as resume=no would count as true
        check(isinstance(cfg.get(key), bool), key, cfg.get(key), "must be true or false")
    one_of("device", cfg.get("device"), ("cpu", "cuda", "auto"))
    check_engine(cfg)   # mixed precision vs double backprop, before any run
    one_of("dtype", cfg.get("dtype"), ("float32", "float64"))
    arch = DATASETS[cfg.dataset.name].compatible_archs()
    check(cfg.arch.name in arch, "arch", cfg.arch.name,
           f"dataset={cfg.dataset.name} allows arch: {', '.join(arch)}")
    _check_estimate(cfg)
    for key in sorted(TOP_LEVEL_KEYS - set(sections)):
        if key in cfg:
            value = cfg[key]
            sections[key] = (OmegaConf.to_container(value, resolve=True)
                             if isinstance(value, DictConfig) else value)
    return Checked(sections)


def _check_estimate(cfg: DictConfig) -> None:
    """The batch a method's regularizer estimate needs, and where per-sample gradients exist."""
    if cfg.method.get("regularizer_estimate") == "unbiased":
        check(cfg.batch_size >= 2 and cfg.batch_size % 2 == 0, "batch_size", cfg.batch_size,
               "method.regularizer_estimate=unbiased needs an even batch_size >= 2")
    if cfg.method.get("regularizer_estimate") == "variance_corrected":
        check(cfg.batch_size >= 2, "batch_size", cfg.batch_size,
               "method.regularizer_estimate=variance_corrected needs batch_size >= 2 (it divides "
               "by B - 1)")
        if DATASETS[cfg.dataset.name].image:   # per-sample gradients exist unless batch norm
            check(not _has_batch_norm(cfg.arch), "method.regularizer_estimate",   # couples them
                  "variance_corrected", f"arch={cfg.arch.name} has batch norm, which couples the "
                  "samples of a batch (no per-sample gradients); use same_batch or unbiased, or a "
                  "net without batch norm (arch.batch_norm=false, or e.g. arch=dcgan4_nobn)")
        else:
            per_sample = DATASETS.where(lambda d: d.per_sample and not d.image)
            check(cfg.dataset.name in per_sample, "method.regularizer_estimate",
                  "variance_corrected", f"per-sample gradients are supported on dataset="
                  f"{', '.join(per_sample)} and on image nets without batch norm; with "
                  f"dataset={cfg.dataset.name} use same_batch or unbiased")


def _has_batch_norm(arch) -> bool:
    """Whether the image net ``arch`` normalizes over the batch (its switch, else its default)."""
    # imported here: it loads torch, which only this estimate on image data needs
    from gantrain.models.dcgan import DCGAN_BATCH_NORM

    bn = arch.get("batch_norm")
    return bool(DCGAN_BATCH_NORM.get(arch.name, False) if bn is None else bn)
