"""`gantrain --help`: what a user can choose, in the order they choose it.

Hydra prints ``hydra.help.template`` (gantrain/conf/train.yaml), a ``string.Template`` whose
OmegaConf interpolations are resolved first. The template's sections come from the resolver
``${gantrain_help:<section>}`` registered here, so nothing in them is restated by hand:

- ``rules``: every rule of the registry (``gantrain.rules.RULES``, plugins included), each with the
  first line of its module's docstring;
- ``groups``: the user-facing config groups with their options, as Hydra's config loader finds them
  (yaml files and the ConfigStore), the chosen option marked; the internal ``schema/`` groups are
  left out;
- ``settings``: the composed training config, the top-level keys first, then the chosen groups'
  settings in the order above, then the sections (engine, analysis, ...).

Every ``$`` of a section is doubled, as ``string.Template`` wants (``optim.lr: ${eta}``).
"""
from __future__ import annotations

import re
import sys
import textwrap
from typing import Any

from omegaconf import DictConfig, OmegaConf

RESOLVER = "gantrain_help"
# The groups in the order a user chooses them: the rule (its own section), the game or data and
# the model, how it is trained, scored and logged; then how runs are launched: a preset, a
# launcher, a paper's grid and its quick form. A group not listed here comes after these.
GROUP_ORDER = ("dataset", "arch", "loss", "optim", "eval", "logger",
               "experiment", "launcher", "sweep", "quick", "variant")
GROUP_TEXT = {
    "dataset": "the game or the data",
    "arch": "the generator and discriminator",
    "loss": "the GAN loss",
    "optim": "the optimizer (its lr follows eta)",
    "eval": "the evaluation protocol",
    "logger": "wandb (offline) or none",
    "experiment": "a preset of the source documents' experiments",
    "launcher": "how the jobs of -m run",
    "sweep": "a paper figure's or table's grid, for -m (make fig5 ...)",
    "quick": "a sweep's quick form (make ... QUICK=1)",
    "variant": "a sweep's per-job settings (+variant=...)",
}
INTERNAL = ("schema/",)   # config groups that exist for the composition, not for the user
WIDTH = 100


def rule_summary(cls: type) -> str:
    """The first sentence of a rule's module docstring, without its leading ``name``: label and
    its references to docs/; when that leaves only a citation, the next paragraph's first sentence
    comes before it."""
    doc = (sys.modules[cls.__module__].__doc__ or "").strip()
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", doc) if p.strip()] or [""]

    def first(text: str) -> str:
        text = re.split(r"(?<=[.:])\s+(?=[A-Z(])|:\s*$", text)[0]
        text = re.sub(r",? ?\(?docs/[^)]*\)?", "", text)
        return text.strip().rstrip(".:,")

    summary = first(re.sub(r"^`[^`]+`:?\s*", "", paras[0]))
    if summary.startswith("(") and len(paras) > 1:
        lead = first(paras[1])
        summary = f"{lead[:1].lower()}{lead[1:]} {summary}"
    return summary


def rules_section(root: DictConfig) -> str:
    """The rules as a group line (``method: simgd, altgd, ...``, the chosen one marked ``*``), then
    one line per rule: its name and its summary."""
    from gantrain.rules import RULES

    names = list(RULES)
    pad = max(len(n) for n in names) + 2
    chosen = OmegaConf.select(root, "hydra.runtime.choices.method")
    lines = wrap("method", [f"{n}*" if n == chosen else n for n in names])
    for name in names:
        lines += textwrap.wrap(rule_summary(RULES[name]), WIDTH, initial_indent=f"  {name.ljust(pad)}",
                               subsequent_indent=" " * (pad + 4), break_on_hyphens=False)
    return "\n".join(lines)


def wrap(group: str, options: list[str]) -> list[str]:
    """``group: a, b, c`` wrapped to WIDTH, continuation lines indented."""
    return textwrap.wrap(f"{group}: " + ", ".join(options), WIDTH, subsequent_indent="    ",
                         break_on_hyphens=False, break_long_words=False)


def user_groups(loader: Any) -> list[str]:
    """The config groups a user picks from (no ``hydra/``, no internal ones), in GROUP_ORDER."""
    groups = [g for g in loader.list_groups("") if g not in ("hydra", "method")
              and not any(g.startswith(p.rstrip("/")) for p in INTERNAL)]
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))


def groups_section(root: DictConfig) -> str:
    """Each user-facing group: a comment saying what it is, then ``group: options``, the chosen
    option marked ``*``."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().hydra.config_loader
    choices = OmegaConf.select(root, "hydra.runtime.choices", default={}) or {}
    out = []
    for group in user_groups(loader):
        chosen = choices.get(group)
        options = [f"{o}*" if o == chosen else o for o in sorted(loader.get_group_options(group))]
        if group in GROUP_TEXT:
            out.append(f"# {GROUP_TEXT[group]}")
        out += wrap(group, options)
    return "\n".join(out)


def settings_section(root: DictConfig) -> str:
    """The composed config as yaml: top-level keys, then the groups' settings, then the sections."""
    job = [k for k in root if k != "hydra"]
    scalars = [k for k in job if not OmegaConf.is_config(root[k])]
    chosen = [k for k in ("method", *GROUP_ORDER) if k in job and k not in scalars]
    rest = [k for k in job if k not in scalars and k not in chosen]
    yaml = lambda keys: "".join(OmegaConf.to_yaml(OmegaConf.masked_copy(root, [k])) for k in keys)
    return "\n".join(yaml(keys) for keys in (scalars, chosen, rest) if keys).rstrip()


def section(name: str, _root_: DictConfig) -> str:
    """The resolver ``${gantrain_help:<name>}``: a help section, ``$`` escaped; empty outside
    Hydra's help (a saved hydra.yaml resolved by another tool)."""
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        return ""
    text = {"rules": lambda: rules_section(_root_),
            "groups": lambda: groups_section(_root_),
            "settings": lambda: settings_section(_root_)}[name]()
    return text.replace("$", "$$")


def register() -> None:
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, section, use_cache=False)


register()
