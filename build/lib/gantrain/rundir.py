"""A run directory as a place: one process at a time holds it (``.lock``), it holds one run's
settings (``config.yaml``) and its ``summary.json``, a run refused before training still leaves a
``failed`` summary (``failure_recorded``), and a write error in it is one line. Torch-free, so the
command line can refuse a busy directory before torch loads."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from omegaconf import OmegaConf

from gantrain.errors import ConfigError, first_line

log = logging.getLogger("gantrain")

# Keys that may change between a run and its resumption without changing the trajectory.
RESUMABLE_CHANGES = {"steps", "progress", "logger", "resume", "keep_last", "requeue", "search"}
FINISHED = ("completed", "diverged")

class RunDirBusy(ConfigError):
    """Another process holds the run directory (one line; exit 2 from the CLI)."""


class RunWriteError(ConfigError):
    """A file of the run could not be written (a full disk, a quota, permissions): the run ended
    ``failed`` and the previous checkpoint is intact. One line for the user, like ConfigError."""


@contextmanager
def writing(path: Path):
    """Turn an OSError while writing run files into a one-line RunWriteError naming the file."""
    try:
        yield
    except OSError as e:
        where = e.filename or path
        raise RunWriteError(f"could not write {where}: {e.strerror or first_line(e)}") from e


@contextmanager
def failure_recorded(run_dir: Path, enabled: bool = True, **extra: Any) -> Iterator[None]:
    """Record a run refused before training (a ConfigError) in its ``summary.json``, status
    ``failed``, and re-raise: the one place that writes such a summary, as lightning-hydra-template's
    ``task_wrapper`` is for its tasks. A run that fails once training started records that itself
    (``Trainer``); a busy directory is another process's run, and a write error already wrote the
    summary it could, so neither gets one here, nor does a directory that has a summary.

    Args:
        run_dir: the run's directory.
        enabled: False: record nothing (a single run from the command line leaves no trace).
        **extra: more keys for the summary (e.g. ``method``).

    Example:
        with failure_recorded(run_dir, enabled=sweeping):
            summary = train(cfg, run_dir)
    """
    try:
        yield
    except ConfigError as e:
        path = Path(run_dir) / "summary.json"
        if enabled and not isinstance(e, (RunDirBusy, RunWriteError)) and not path.exists():
            from gantrain.tracking import write_json

            write_json(path, {"status": "failed", "steps_done": 0, "diverged_at": None,
                              "wall_time_s": 0.0, "error": f"ConfigError: {e}", "metrics": {},
                              **extra})
        raise


class RunDirLock:
    """One process per run directory: an exclusive ``fcntl.flock`` on ``<run_dir>/.lock``, which
    holds ``host=... pid=...`` for the message a second process gets.

    flock rather than a pid file checked with os.kill(pid, 0): the kernel drops the lock however
    its holder dies (kill -9, OOM), and so does NFS lock recovery when a node dies, so a SLURM job
    requeued onto another node takes the run over, where a pid is only checkable on its own host.
    NFS (v3 with lockd, v4) and Lustre mounted with -o flock honour it across nodes; a file
    system without locks gets a warning and an unlocked run rather than no run."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown process"
                os.close(fd)
                raise RunDirBusy(f"{self.path.parent} is in use by another gantrain process "
                                 f"({holder}); wait for it to end or choose another "
                                 "hydra.run.dir") from None
            except OSError as e:
                os.close(fd)
                log.warning("run directory %s is not locked: this file system has no locks (%s)",
                            self.path.parent, first_line(e))
                return
            # The previous holder removes the file on release: a lock on that removed file would
            # not exclude a process that creates a new one, so check that ours is still the file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        who = f"host={socket.gethostname()} pid={os.getpid()}"
        if os.environ.get("SLURM_JOB_ID"):
            who += f" slurm_job={os.environ['SLURM_JOB_ID']}"
        os.ftruncate(fd, 0)
        os.write(fd, (who + "\n").encode())
        self.fd = fd

    @classmethod
    def refuse_if_held(cls, run_dir: Path) -> None:
        """Raise RunDirBusy when another process holds ``run_dir``'s lock, without taking it (the
        command line checks this before Hydra writes its own files into that directory)."""
        lock = cls(run_dir)
        if not lock.path.is_file():
            return
        lock.acquire()   # raises RunDirBusy when held
        lock.fd, fd = None, lock.fd
        if fd is not None:   # free: let go without removing a file the real run may now hold
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)   # before unlocking: see acquire
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def config_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in RESUMABLE_CHANGES:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def read_summary(run_dir: Path) -> dict | None:
    """The run's summary.json; None when there is none or it cannot be read (a warning)."""
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable %s (%s)", path, first_line(e))
        return None
    return summary if isinstance(summary, dict) else None


def check_run_dir(run_dir: Path, config: dict) -> dict | None:
    """Refuse a run directory that holds a different run; return its summary if there is one."""
    saved = run_dir / "config.yaml"
    if saved.exists():
        try:
            old = OmegaConf.to_container(OmegaConf.load(saved), resolve=True)
        except Exception as e:   # a file edited by hand, or cut short by an older gantrain
            raise ConfigError(f"{saved} is unreadable ({first_line(e)}); repair or remove it, or "
                              "choose another hydra.run.dir") from None
        diffs = config_diff(old if isinstance(old, dict) else {}, config)
        if diffs:
            raise ConfigError(f"{run_dir} holds a run with other settings ({'; '.join(diffs[:3])}); "
                              "choose another hydra.run.dir to start a new run")
    return read_summary(run_dir)
