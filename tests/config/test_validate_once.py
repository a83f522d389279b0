"""The config is checked once per run: the command line's pre-check hands its result to the run,
and launcher=ensemble's packing check hands each member's to the member (``validate`` returns the
typed sections, which the run's optimizers and rule are built from)."""
from __future__ import annotations

import json

import pytest

import gantrain.config as config_mod
import gantrain.run_parts as run_parts_mod
from gantrain.config import Checked, validate
from gantrain.rules.options import EstimateOptions
from tests.config.test_bad_input import command, in_process  # noqa: F401 - a fixture
from tests.helpers import make_cfg


@pytest.fixture
def calls(monkeypatch):
    """Count every ``validate`` call, wherever it is imported from."""
    seen = []

    def counting(cfg):
        seen.append(cfg)
        return validate(cfg)

    monkeypatch.setattr(config_mod, "validate", counting)
    monkeypatch.setattr(run_parts_mod, "validate", counting)
    return seen


def test_validate_returns_the_typed_sections():
    checked = validate(make_cfg("method=jare", "method.regularizer_estimate=unbiased"))
    assert isinstance(checked, Checked)
    assert isinstance(checked.method, EstimateOptions)
    assert checked.method.regularizer_estimate == "unbiased"
    assert checked.optim.name == "rmsprop_tf" and checked.optim.lr > 0
    with pytest.raises(AttributeError):
        checked.no_such_section  # noqa: B018


def test_a_single_run_is_validated_once(in_process, calls, tmp_path):  # noqa: F811
    code, _, err = in_process("gantrain", command("gantrain", ["method=jare"], tmp_path))
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"
    assert len(calls) == 1


@pytest.mark.slow
def test_each_ensemble_member_is_validated_once(in_process, calls, tmp_path):  # noqa: F811
    args = ["-m", "launcher=ensemble", "seed=0,1", "gamma=1,10"]
    code, _, err = in_process("gantrain", command("gantrain", args, tmp_path))
    assert code == 0, err
    done = [json.loads(p.read_text())["status"] for p in (tmp_path / "sweep").glob("*/summary.json")]
    assert done == ["completed"] * 4
    assert len(calls) == 4
