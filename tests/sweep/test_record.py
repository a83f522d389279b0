"""sweep.json (gantrain.sweep.record): the status each job ends with, a file never half written,
and a record this gantrain cannot read left as it is."""
from __future__ import annotations

import json
import os

import pytest
from omegaconf import OmegaConf

from gantrain.errors import ConfigError
from gantrain.rundir import RunWriteError
from gantrain.sweep import record as R


@pytest.fixture
def job(tmp_path, monkeypatch):
    """Job 3 of a sweep in tmp_path/sweep, as HydraConfig would describe it; its run dir."""
    sweep = tmp_path / "sweep"
    run_dir = sweep / "3"
    run_dir.mkdir(parents=True)
    hc = OmegaConf.create({"sweep": {"dir": str(sweep)}, "job": {"num": 3},
                           "overrides": {"task": ["seed=3", "method=jare"]}})
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hc))
    return run_dir


def _entry(run_dir):
    return json.loads((run_dir.parent / "sweep.json").read_text())["jobs"]["3"]


def _summary(run_dir, status, steps):
    (run_dir / "summary.json").write_text(json.dumps({"status": status, "steps_done": steps}))


def test_a_new_run_is_done_one_from_a_checkpoint_resumed(job):
    with R.job_recorded(job, steps=10):
        _summary(job, "completed", 10)
    e = _entry(job)
    assert (e["status"], e["dir"], e["overrides"], e["run_status"]) == (
        "done", "3", ["seed=3", "method=jare"], "completed")
    (job / "summary.json").unlink()
    (job / "checkpoints").mkdir()
    (job / "checkpoints" / "last.pt").write_bytes(b"")
    with R.job_recorded(job, steps=10):
        _summary(job, "completed", 10)
    assert _entry(job)["status"] == "resumed"
    with R.job_recorded(job, steps=10):   # already finished: nothing ran, the record stays
        pass
    assert _entry(job)["status"] == "resumed"


@pytest.mark.parametrize("error,status", [(ConfigError("gamma=-1 is invalid"), "refused"),
                                          (RunWriteError("could not write"), "failed"),
                                          (RuntimeError("nan"), "failed")])
def test_an_error_is_recorded_and_raised(job, error, status):
    with pytest.raises(type(error)), R.job_recorded(job, steps=10):
        raise error
    assert _entry(job)["status"] == status


def test_disabled_records_nothing(job):
    with R.job_recorded(job, steps=10, enabled=False):
        pass
    assert not (job.parent / "sweep.json").exists()


def test_other_jobs_are_kept_and_no_temporary_file_is_left(tmp_path):
    R.record_job(tmp_path, 0, ["seed=0"], "done", tmp_path / "0")
    R.record_job(tmp_path, 1, ["seed=1"], "failed", tmp_path / "1", run_status="failed")
    R.record_job(tmp_path, 0, ["seed=9"], "done", tmp_path / "0")
    data = R.read_sweep_file(tmp_path)
    assert data["gantrain_sweep_format"] == R.FORMAT and sorted(data["jobs"]) == ["0", "1"]
    assert data["jobs"]["0"]["previous"]["overrides"] == ["seed=0"]   # what was there, kept
    assert sorted(os.listdir(tmp_path)) == [".sweep.json.lock", "sweep.json"]


@pytest.mark.parametrize("text,msg", [
    ('{"jobs": ', "sweep.json is unreadable"),
    ('{"x": 1}', "is not a gantrain sweep record"),
    ('{"gantrain_sweep_format": 2, "jobs": {}}', "gantrain_sweep_format=2, written by a newer gantrain"),
])
def test_a_record_it_cannot_read_is_one_line_and_kept(tmp_path, text, msg):
    (tmp_path / "sweep.json").write_text(text)
    with pytest.raises(ConfigError, match=msg) as e:
        R.read_sweep_file(tmp_path)
    assert "\n" not in str(e.value)
    R.record_job(tmp_path, 0, ["seed=0"], "done", tmp_path / "0")   # warns, writes nothing
    assert (tmp_path / "sweep.json").read_text() == text
