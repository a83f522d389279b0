"""Which runs may share an ensemble: those whose configs differ only in the member keys (seed,
γ, η and the optimizer's lr, which follows η). Everything else (game, architecture, rule and its
options, optimizer, batch size, steps, cadences) is one per ensemble."""
from __future__ import annotations

import json

from omegaconf import DictConfig, OmegaConf

from gantrain.errors import ConfigError

MEMBER_KEYS = ("seed", "gamma", "eta", "optim.lr")
# Keys that never change a trajectory or a file's content (as on resume): free to differ.
FREE_KEYS = ("progress", "logger", "hydra")


def shared_part(cfg: DictConfig) -> dict:
    """The config without the member keys and the free keys: equal for compatible runs."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    for key in (*MEMBER_KEYS, *FREE_KEYS):
        *path, last = key.split(".")
        node = tree
        for part in path:
            node = node.get(part, {})
        node.pop(last, None)
    return tree


def pack_key(cfg: DictConfig) -> str:
    """A string equal for exactly the runs that may share an ensemble."""
    return json.dumps(shared_part(cfg), sort_keys=True, default=str)


def check_compatible(cfgs: list[DictConfig]) -> None:
    """One line naming the first key in which a run differs from the first run (other than the
    member keys)."""
    first = shared_part(cfgs[0])
    for i, cfg in enumerate(cfgs[1:], 1):
        other = shared_part(cfg)
        if other != first:
            key = _first_difference(first, other)
            raise ConfigError(f"run {i} of the ensemble differs from run 0 in {key}; members may "
                              f"differ only in {', '.join(MEMBER_KEYS)}")


def _first_difference(a, b, prefix: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
    return prefix.rstrip(".") or "the config"


def pack(keys: list[str], size: int) -> list[list[int]]:
    """Job indices grouped by equal key, in order of first appearance, each group cut into
    ensembles of at most ``size``."""
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return [idx[j:j + size] for idx in groups.values() for j in range(0, len(idx), size)]
