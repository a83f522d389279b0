"""docs/experiments.md has an entry for every regularizer estimate, every toy target's sweep and
JARE App. B and C, and its App. C table states the values the preset really sets."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "experiments.md").read_text()


def section(heading: str) -> str:
    start = DOC.index(heading)
    nxt = re.search(r"^#{2,3} ", DOC[start + len(heading):], re.MULTILINE)
    return DOC[start:start + len(heading) + (nxt.start() if nxt else len(DOC))]


def leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_every_regularizer_estimate_has_an_entry():
    from gantrain.rules.options import EstimateOptions

    table = section("### I.5")
    for estimate in EstimateOptions.ESTIMATES:
        assert re.search(rf"^\| `{estimate}` \|", table, re.MULTILINE), estimate
    assert "`unbiased` and `variance_corrected` are opt-in" in section("## F.")


@pytest.mark.parametrize("target,where", [("onesided", "### I.3"), ("spectra", "### I.4"),
                                          ("appc", "### I.2")])
def test_every_toy_target_has_an_entry(target, where):
    assert f"`make {target}`" in section(where)
    sweep = ROOT / "gantrain" / "conf" / "sweep" / f"{target}.yaml"
    if sweep.exists():   # its grid's rules are the ones the entry lists
        params = yaml.safe_load(sweep.read_text())["hydra"]["sweeper"]["params"]
        for rule in str(params.get("method", "")).split(","):
            assert rule in section(where), (target, rule)


def test_app_b_and_app_c_entries_hold_the_presets_values():
    assert "`arch=fullrank`" in section("### I.1")
    table = section("### I.2")
    preset = yaml.safe_load((ROOT / "gantrain" / "conf" / "experiment" / "gaussian_app_c.yaml")
                            .read_text())
    values = leaves({k: v for k, v in preset.items() if k != "defaults"})
    assert len(values) >= 10
    for key, value in values.items():
        if key in ("log_every", "checkpoint_every") and key not in table:
            continue   # cadences, not settings of the experiment
        m = re.search(rf"`{re.escape(key)}=([^`]+)`", table)
        assert m, f"§I.2 does not state {key}"
        written = yaml.safe_load(m.group(1))
        written = float(written) if isinstance(written, str) else written   # yaml reads 1e-3 as text
        assert written == pytest.approx(value), (key, written, value)
