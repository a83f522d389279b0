"""What launcher=ensemble can run: the rules whose own code runs over stacked members (every
field rule; a rule class says why not in ``ensemble_refusal``), on the small games and nets, with
the regularizer estimates that are batch means. A job it cannot run is refused in one line naming
the value, and the launcher runs such a job on its own instead."""
from __future__ import annotations

from gantrain.errors import ConfigError
from gantrain.rules import RULES

GAMES = ("mog", "gaussian", "dirac")
ARCHS = ("mlp", "linear", "fullrank")
ESTIMATES = ("same_batch", "unbiased")   # not variance_corrected: per-sample gradient stacks


def refusal(cls) -> str:
    """Why the ensemble cannot run a rule class ("" when it can)."""
    if cls.ensemble_refusal:
        return cls.ensemble_refusal
    if cls.stateful:
        return "its state between steps is kept for one run, not per member"
    return ""


NOT_COVERED = {name: why for name, cls in RULES.items() if (why := refusal(cls))}
COVERED = tuple(name for name in RULES if name not in NOT_COVERED)


def check_covered(method: str) -> None:
    """One line when ``method`` cannot run in an ensemble."""
    if method in NOT_COVERED:
        raise ConfigError(f"method={method} is invalid with launcher=ensemble: {NOT_COVERED[method]}; "
                          f"allowed: {', '.join(COVERED)} (run it with launcher=basic)")
    if method not in COVERED:
        raise ConfigError(f"method={method!r} is invalid with launcher=ensemble; allowed: "
                          f"{', '.join(COVERED)}")


def check_estimate(method_cfg) -> None:
    """One line when the method's regularizer estimate cannot run over members."""
    estimate = RULES[method_cfg.name].estimate(method_cfg)
    if estimate is not None and estimate not in ESTIMATES:
        raise ConfigError(f"method.regularizer_estimate={estimate} is invalid with launcher=ensemble: "
                          f"its per-sample gradient stacks are not taken over members; allowed: "
                          f"{', '.join(ESTIMATES)} (run it with launcher=basic)")


def check_member_config(cfg) -> None:
    """One line when a run cannot be an ensemble member."""
    if cfg.dataset.name not in GAMES:
        raise ConfigError(f"dataset={cfg.dataset.name} is invalid with launcher=ensemble: "
                          f"allowed: {', '.join(GAMES)}")
    if cfg.arch.name not in ARCHS:
        raise ConfigError(f"arch={cfg.arch.name} is invalid with launcher=ensemble: "
                          f"allowed: {', '.join(ARCHS)}")
    check_covered(cfg.method.name)
    check_estimate(cfg.method)   # the launcher runs such a job on its own instead of packing it
    if cfg.analysis.every:
        raise ConfigError(f"analysis.every={cfg.analysis.every} is invalid with launcher=ensemble: "
                          "spectra during training run in single runs only; allowed: 0")
