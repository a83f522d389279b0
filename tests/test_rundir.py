"""rundir.failure_recorded: the one place that writes the failed summary of a refused run."""
from __future__ import annotations

import json

import pytest

from gantrain.errors import ConfigError
from gantrain.rundir import RunDirBusy, RunWriteError, failure_recorded


def test_a_refused_run_leaves_a_failed_summary_with_the_extra_keys(tmp_path):
    with pytest.raises(ConfigError, match="gamma=-1"):
        with failure_recorded(tmp_path, method="jare", zoo_game="mog"):
            raise ConfigError("gamma=-1 is invalid: must be a number >= 0")
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s == {"status": "failed", "steps_done": 0, "diverged_at": None, "wall_time_s": 0.0,
                 "error": "ConfigError: gamma=-1 is invalid: must be a number >= 0",
                 "metrics": {}, "method": "jare", "zoo_game": "mog"}


@pytest.mark.parametrize("error", [RunDirBusy("busy"), RunWriteError("could not write x"),
                                   RuntimeError("boom")])
def test_busy_write_errors_and_failures_in_training_are_not_recorded_here(tmp_path, error):
    with pytest.raises(type(error)):
        with failure_recorded(tmp_path):
            raise error
    assert not (tmp_path / "summary.json").exists()


def test_disabled_or_an_existing_summary_writes_nothing(tmp_path):
    with pytest.raises(ConfigError):
        with failure_recorded(tmp_path, enabled=False):
            raise ConfigError("bad")
    assert not (tmp_path / "summary.json").exists()
    (tmp_path / "summary.json").write_text('{"status": "failed", "error": "the run\'s own"}')
    with pytest.raises(ConfigError):
        with failure_recorded(tmp_path):
            raise ConfigError("bad")
    assert json.loads((tmp_path / "summary.json").read_text())["error"] == "the run's own"


def test_a_run_that_ends_writes_nothing(tmp_path):
    with failure_recorded(tmp_path):
        pass
    assert not (tmp_path / "summary.json").exists()
