"""``<sweep_dir>/sweep.json``: what happened to every job of a sweep, written by the job itself
when it ends (so a job on another process, a joblib worker or a SLURM node, records itself).

Format 1 (read by ``gantrain-report --html`` too)::

    {"gantrain_sweep_format": 1,
     "jobs": {"<job number>": {"overrides": [...], "status": "done|resumed|refused|failed",
                               "dir": "<run dir relative to the sweep dir>", ...}}}

``done``: the run ended (completed or diverged) without needing a checkpoint of an earlier try;
``resumed``: it ended after continuing from one; ``refused``: its config was refused before
training (nothing trained); ``failed``: it started and failed (or was stopped). A job killed with
kill -9 records nothing; the rerun that finishes it records ``resumed``. Every write replaces the
file atomically (a temporary file, then ``os.replace``) under a lock, so concurrent jobs and a
kill -9 never leave it half written. Torch-free."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from gantrain.errors import ConfigError, first_line
from gantrain.rundir import FINISHED, RunWriteError, read_summary

log = logging.getLogger("gantrain")

SWEEP_FILE = "sweep.json"
FORMAT = 1
STATUSES = ("done", "resumed", "refused", "failed")


def read_sweep_file(sweep_dir: Path) -> dict | None:
    """The sweep directory's record.

    Args:
        sweep_dir: the sweep directory.

    Returns:
        The parsed ``sweep.json``, or None when there is none (a new sweep, or one written by a
        gantrain older than the file). An unreadable file, or one of a newer format, is a one-line
        ConfigError (the file is left as it is).
    """
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is unreadable ({first_line(e)}); repair or remove it (the runs "
                          "beside it are untouched), or choose another hydra.sweep.dir") from None
    fmt = data.get("gantrain_sweep_format") if isinstance(data, dict) else None
    if not isinstance(fmt, int) or not isinstance(data.get("jobs"), dict):
        raise ConfigError(f"{path} is not a gantrain sweep record (no gantrain_sweep_format and "
                          "jobs); remove it or choose another hydra.sweep.dir")
    if fmt > FORMAT:
        raise ConfigError(f"{path} has gantrain_sweep_format={fmt}, written by a newer gantrain; "
                          f"this one reads format {FORMAT}: upgrade gantrain or choose another "
                          "hydra.sweep.dir")
    return data


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, fsynced, then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)   # the rename itself survives a crash
    finally:
        os.close(fd)


@contextmanager
def _file_lock(sweep_dir: Path) -> Iterator[None]:
    """Serialize read-modify-write of sweep.json between the jobs of one sweep."""
    fd = os.open(Path(sweep_dir) / f".{SWEEP_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing lets go of the lock


def record_job(sweep_dir: Path, num: int, overrides: list[str], status: str, run_dir: Path,
               **extra: Any) -> None:
    """Set job ``num``'s entry in ``sweep.json`` (created when missing).

    Args:
        sweep_dir: the sweep directory.
        num: the job number (Hydra's ``hydra.job.num``; an Optuna trial's number).
        overrides: the job's overrides.
        status: one of ``STATUSES``.
        run_dir: the job's run directory (recorded relative to ``sweep_dir``).
        **extra: more keys for the entry (e.g. ``run_status``).
    """
    assert status in STATUSES, status
    sweep_dir = Path(sweep_dir)
    with _file_lock(sweep_dir):
        try:
            data = read_sweep_file(sweep_dir) or {"gantrain_sweep_format": FORMAT, "jobs": {}}
        except ConfigError as e:   # never overwrite a record this gantrain cannot read
            log.warning("job %s not recorded: %s", num, e)
            return
        entry = {"overrides": list(overrides), "status": status,
                 "dir": os.path.relpath(run_dir, sweep_dir), **extra,
                 "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        old = data["jobs"].get(str(num))
        if old and sorted(old.get("overrides", [])) != sorted(overrides):
            entry["previous"] = {k: v for k, v in old.items() if k != "previous"}
        data["jobs"][str(num)] = entry
        atomic_write_text(sweep_dir / SWEEP_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")


def state_before(run_dir: Path, steps: int) -> str:
    """``finished`` (a completed or diverged run of ``steps`` steps is there), ``partial`` (a
    checkpoint of an earlier try is there) or ``new``."""
    prev = read_summary(run_dir)
    if prev and prev.get("status") in FINISHED and (prev["status"] == "diverged"
                                                    or prev.get("steps_done", 0) >= steps):
        return "finished"
    if any((Path(run_dir) / "checkpoints").glob("*.pt")):
        return "partial"
    return "new"


def _earlier_status(sweep_dir: Path, num: int) -> str:
    """The status recorded for a job whose run had already finished (``done`` when none)."""
    try:
        old = ((read_sweep_file(sweep_dir) or {}).get("jobs") or {}).get(str(num)) or {}
    except ConfigError:
        return "done"
    return old.get("status") if old.get("status") in ("done", "resumed") else "done"


def _ended(sweep_dir: Path, num: int, before: str) -> str:
    """The status of a job whose run ended well, from its run directory's state before it ran."""
    return {"finished": _earlier_status(sweep_dir, num), "partial": "resumed"}.get(before, "done")


@contextmanager
def job_recorded(run_dir: Path, steps: int, enabled: bool = True) -> Iterator[None]:
    """Record the job running inside in its sweep's ``sweep.json`` when it ends: done or resumed
    when it returns, refused on a ConfigError before training, failed on any other error (the
    error is re-raised). A run that had already finished keeps the status recorded before.

    Args:
        run_dir: the job's run directory.
        steps: the run's ``steps`` (a finished run of fewer steps is resumed to more).
        enabled: False: record nothing (a single run, or a rank other than 0).
    """
    if not enabled:
        yield
        return
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    sweep_dir, num = Path(hc.sweep.dir).absolute(), int(hc.job.num)
    overrides = list(hc.overrides.task)
    before = state_before(run_dir, steps)
    status = None
    try:
        yield
        status = _ended(sweep_dir, num, before)
    except ConfigError as e:   # refused before training, unless a file could not be written
        status = "failed" if isinstance(e, RunWriteError) else "refused"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        summary = read_summary(run_dir) or {}
        record_job(sweep_dir, num, overrides, status or "failed", run_dir,
                   run_status=summary.get("status"))


def record_member(sweep_dir: Path, num: int, overrides: list[str], before: str,
                  run_dir: Path) -> None:
    """Record an ensemble member's job in ``sweep.json`` once its ensemble has ended, as
    ``job_recorded`` records a job run alone: done or resumed when its run finished (the earlier
    status when it had finished before), failed otherwise.

    Args:
        sweep_dir: the sweep directory.
        num: the job number.
        overrides: the job's overrides.
        before: ``state_before`` of its run directory, taken before the ensemble ran.
        run_dir: the job's run directory.
    """
    summary = read_summary(run_dir) or {}
    if summary.get("status") in FINISHED:
        status = _ended(sweep_dir, num, before)
    else:
        status = "failed"
    record_job(sweep_dir, num, overrides, status, run_dir, run_status=summary.get("status"))

