"""The registry is the one place that knows the rules: every fact about a rule is a class
attribute, every table elsewhere is read from ``RULES``, and no module outside gantrain/rules/
names a rule (presets and sweeps in yaml may)."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gantrain.cli import CONFIG_DIR
from gantrain.rules import BUILTIN, RULES

PACKAGE = Path(__file__).resolve().parents[2] / "gantrain"
NAMED = re.compile(r"""["'](%s)["']|method=(%s)\b""" % (("|".join(BUILTIN),) * 2))


def test_no_module_outside_the_rules_names_a_rule():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("rules/"):   # every module outside rules/ reads rules from the registry
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if NAMED.search(line):
                offenders.append(f"gantrain/{rel}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("name", list(BUILTIN))
def test_every_rule_states_its_facts_and_has_its_config(name):
    rule = RULES[name]
    assert rule.name == name
    for fact in ("uses_gamma", "second_order", "plain_field", "consensus_bound", "field_follows_step"):
        assert isinstance(getattr(rule, fact), bool), fact
    assert rule.color is not None   # gantrain's own rules all have their colour
    # `method=<name>` composes to its Options dataclass's defaults, field by field (no yaml)
    from tests.helpers import make_cfg

    cfg = make_cfg(f"method={name}", "eta=0.25")
    composed = OmegaConf.to_container(cfg.method, resolve=True)
    assert composed.pop("name") == name
    options = {f.name: f for f in fields(rule.Options) if f.name != "name"}
    assert set(composed) == set(options)
    for key, value in composed.items():
        follows = options[key].metadata.get("config")   # e.g. CGD's η follows the top-level eta
        assert value == (0.25 if follows == "${eta}" else options[key].default), (name, key)
    rule.options_of({})   # the defaults pass the rule's own checks


def test_tables_are_read_from_the_registry():
    from gantrain.analysis.plots import method_colors
    from gantrain.report.collect import method_label, method_order

    assert method_order() == list(RULES) and list(RULES)[:len(BUILTIN)] == list(BUILTIN)
    assert list(method_colors()) == [n for n in RULES if RULES[n].color is not None]
    assert {n for n in BUILTIN if RULES[n].note} == {n for n in BUILTIN if method_label(n) != n}


def test_a_rule_added_in_process_joins_every_table():
    from gantrain.analysis.plots import method_color
    from gantrain.rules.simgd import SimGD

    class Halved(SimGD):
        name = "halved_test_rule"
        color = "tab:olive"
        second_order = True

    RULES.add(Halved.name, Halved)
    try:
        from gantrain.config.precision import check_engine
        from gantrain.config.schema import GROUPS
        from gantrain.errors import ConfigError

        assert GROUPS["method"][Halved.name] is Halved.Options
        assert method_color(Halved.name) == "tab:olive"
        cfg = OmegaConf.create({"engine": {"amp": "bf16"}, "method": {"name": Halved.name}})
        with pytest.raises(ConfigError, match="engine.amp=bf16 is invalid"):
            check_engine(cfg)
    finally:
        RULES.remove(Halved.name)


def test_an_unknown_name_is_refused_in_one_line():
    from gantrain.errors import ConfigError
    from gantrain.rules import build_rule

    with pytest.raises(ConfigError, match=r"^method='nosuch' is invalid: allowed: simgd, altgd"):
        build_rule("nosuch", 0.0, {})
    with pytest.raises(ConfigError, match=r"method=cgd has no option\(s\) \['bogus'\]"):
        build_rule("cgd", 0.0, {"bogus": 1})


@pytest.mark.parametrize("group", ["method", "loss", "dataset", "arch", "optim"])
def test_every_registered_name_is_an_option_and_every_option_registered(group):
    """One registry style for the five kinds: the group's options on Hydra's search path are
    exactly the registry's names (a plugin adds its name, and with it its option)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gantrain.games import DATASETS
    from gantrain.losses import LOSSES
    from gantrain.models import ARCHS
    from gantrain.optim import OPTIMS

    registry = {"method": RULES, "loss": LOSSES, "dataset": DATASETS, "arch": ARCHS,
                "optim": OPTIMS}[group]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        options = set(GlobalHydra.instance().config_loader().get_group_options(group))
    assert options == set(registry)


def test_a_loss_added_in_process_is_validated_and_used():
    import torch

    from gantrain.config import validate
    from gantrain.errors import ConfigError
    from gantrain.losses import LOSSES, gan_losses, loss
    from tests.helpers import make_cfg

    @loss("doubled_wgan_test")
    def doubled(d_real, d_fake, mean):
        return 2 * (mean(d_fake) - mean(d_real)), -2 * mean(d_fake)

    cfg = make_cfg("dataset=gaussian")
    cfg.loss.name = doubled.name
    with pytest.raises(ConfigError, match="loss.name='doubled_wgan_test' is invalid"):
        validate(cfg)
    LOSSES.add(doubled.name, doubled)
    try:
        validate(cfg)
        ld, lg = gan_losses(doubled.name, torch.ones(3), torch.zeros(3))
        assert float(ld) == -2.0 and float(lg) == 0.0
    finally:
        LOSSES.remove(doubled.name)


def test_every_rules_penalties_are_a_penalty_and_match_the_table():
    """The penalties each rule puts in each player's direction, as docs/methods.md §2.1's table
    gives them ("full": ConOpt's ½‖v‖²; "cross": the other player's half, JARE)."""
    from typing import get_args

    from gantrain.rules.base import Penalty

    table = {"simgd": ("none", "none"), "conopt": ("full", "full"), "jare": ("cross", "cross"),
             "conopt_g": ("full", "none"), "conopt_d": ("none", "full"), "jare_g": ("cross", "none"),
             "jare_d": ("none", "cross"), "gradnorm": ("full", "full")}
    for name, rule in RULES.items():
        pair = (rule.penalize_generator, rule.penalize_discriminator)
        assert set(pair) <= set(get_args(Penalty)), (name, pair)
        assert pair == table.get(name, pair), (name, pair)
    assert set(table) <= set(RULES)
