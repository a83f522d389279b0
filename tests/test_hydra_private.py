"""gantrain.hydra_private holds every use of Hydra's private API: these tests fail when hydra-core
is not the version it was written for, or when a private symbol it uses is gone."""
from __future__ import annotations

import importlib
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from hydra.types import RunMode

from gantrain import hydra_private
from gantrain.cli import CONFIG_DIR

REPO = Path(__file__).resolve().parent.parent
RECHECK = ("gantrain/hydra_private.py was written for hydra-core {want}; re-check every symbol in "
           "its PRIVATE_SYMBOLS and ARG_FIELDS against hydra-core {have} (signatures included), "
           "run tests/test_cli.py and tests/config/test_bad_input.py, then set HYDRA_VERSION and "
           "constraints.txt to {have}")


def test_installed_hydra_core_is_the_version_the_module_was_written_for():
    have, want = version("hydra-core"), hydra_private.HYDRA_VERSION
    assert have == want, RECHECK.format(want=want, have=have)
    assert want in hydra_private.__doc__
    pinned = re.search(r"^hydra-core==(\S+)$", (REPO / "constraints.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == want, "constraints.txt pins another hydra-core than " \
        f"gantrain/hydra_private.py's HYDRA_VERSION={want}"


@pytest.mark.parametrize("module,path", hydra_private.PRIVATE_SYMBOLS)
def test_each_private_symbol_exists(module, path):
    obj = importlib.import_module(module)
    for part in path.split("."):
        assert hasattr(obj, part), (f"{module}.{path} is gone: "
                                    + RECHECK.format(want=hydra_private.HYDRA_VERSION,
                                                     have=version("hydra-core")))
        obj = getattr(obj, part)


def test_the_basic_sweeper_target_names_the_class():
    module, name = hydra_private.BASIC_SWEEPER.rsplit(".", 1)
    assert (module, f"{name}.split_arguments") in hydra_private.PRIVATE_SYMBOLS
    assert hasattr(importlib.import_module(module), name)


def test_the_argument_namespace_has_the_fields_gantrain_reads():
    args = hydra_private.parse_args(["-m", "method=jare,sga"])
    missing = [f for f in hydra_private.ARG_FIELDS if not hasattr(args, f)]
    assert not missing, f"get_args_parser() has no {missing}: " + RECHECK.format(
        want=hydra_private.HYDRA_VERSION, have=version("hydra-core"))
    assert args.multirun and list(args.overrides) == ["method=jare,sga"]


def test_the_composer_does_what_gantrain_calls_it_for():
    h = hydra_private.Composer(CONFIG_DIR, None, "cli")
    cfg = h.compose("train", ["method=jare"], RunMode.RUN)
    assert cfg.method.name == "jare"
    assert h.mode("train", ["hydra.mode=MULTIRUN"]) == RunMode.MULTIRUN
    assert h.is_group("method") and not h.is_group("gamma")
    jobs = hydra_private.basic_sweep_jobs(h.parse_overrides(["method=jare,sga", "gamma=1"]))
    assert sorted(jobs) == [["method=jare", "gamma=1"], ["method=sga", "gamma=1"]]


def test_no_other_module_touches_hydra_internals():
    allowed = {REPO / "gantrain" / "hydra_private.py"}
    found = [str(p.relative_to(REPO)) for folder in ("gantrain", "hydra_plugins", "scripts")
             for p in (REPO / folder).rglob("*.py")
             if p not in allowed and "hydra._internal" in p.read_text()]
    assert not found, f"{found} use hydra._internal: move that into gantrain/hydra_private.py"
