"""Before a sweep starts in a directory that already holds one: one ``gantrain -m`` at a time in
it (a lock held for the process's life), and one line, before any work, for what it cannot
continue: a grid that changed (a job number that held other overrides), a record of a newer or
unreadable format, an Optuna search written by an older gantrain (trial directories, no study
storage) or a corrupt study storage. Nothing in the directory is changed by a refusal. A grid
directory of an older gantrain (no ``sweep.json``) is continued, with one line saying so.
Torch-free (the command line runs this before torch loads)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from gantrain.errors import ConfigError, first_line
from gantrain.rundir import RESUMABLE_CHANGES, RunDirBusy, RunDirLock
from gantrain.sweep.record import SWEEP_FILE, read_sweep_file

STUDY_FILE = "optuna.db"
STUDY_NAME = "gantrain"
_HELD: dict[Path, RunDirLock] = {}   # sweep dirs this process holds, for its whole life


def hold(sweep_dir: Path) -> None:
    """Take ``sweep_dir``'s lock for the rest of this process (at once when it already has it); a
    one-line ConfigError when another process holds it. The lock goes with the process, kill -9
    included."""
    sweep_dir = Path(sweep_dir).absolute()
    if sweep_dir in _HELD:
        return
    lock = RunDirLock(sweep_dir)
    try:
        lock.acquire()
    except RunDirBusy as e:
        holder = str(e).partition("(")[2].partition(")")[0]
        raise ConfigError(f"hydra.sweep.dir={sweep_dir} is in use by another gantrain sweep "
                          f"({holder}); wait for it to end or choose another hydra.sweep.dir") from None
    _HELD[sweep_dir] = lock


def sweep_dir_of(master: Any) -> Path | None:
    """The sweep directory a composed multirun config names, or None when it names a new one at
    each start (``${now:...}``) or cannot be resolved yet."""
    raw = str(OmegaConf.to_container(master.hydra.sweep, resolve=False).get("dir"))
    if "${now:" in raw:
        return None
    try:
        return Path(str(master.hydra.sweep.dir)).absolute()
    except Exception:   # noqa: BLE001 - another interpolation Hydra resolves later
        return None


def job_dirs(sweep_dir: Path) -> dict[int, list[str]]:
    """Job number -> the overrides Hydra wrote for it (``<n>/.hydra/overrides.yaml``)."""
    out = {}
    for d in Path(sweep_dir).iterdir():
        f = d / ".hydra" / "overrides.yaml"
        if d.name.isdigit() and f.is_file():
            try:
                out[int(d.name)] = [str(o) for o in yaml.safe_load(f.read_text()) or []]
            except (OSError, yaml.YAMLError):
                continue
    return out


def _compared(overrides: list[str]) -> set[str]:
    """The overrides that decide a job's run (a resumable change such as steps= is left out)."""
    return {o for o in overrides if o.lstrip("+~").split("=", 1)[0] not in RESUMABLE_CHANGES}


def check_grid(sweep_dir: Path, jobs: list[list[str]]) -> None:
    """One-line ConfigError when a job number of ``jobs`` held other overrides in ``sweep_dir``.

    Args:
        sweep_dir: an existing sweep directory.
        jobs: the new grid's jobs (each its overrides), numbered from 0.
    """
    data = read_sweep_file(sweep_dir)
    held = job_dirs(sweep_dir)
    if data is None and held:
        print(f"gantrain: {sweep_dir} was written by an older gantrain (no {SWEEP_FILE}): its "
              f"{len(held)} jobs are checked by their .hydra/overrides.yaml and recorded in "
              f"{SWEEP_FILE} from now on", file=sys.stderr)
    recorded = {int(k): v.get("overrides", []) for k, v in ((data or {}).get("jobs") or {}).items()
                if k.isdigit() and isinstance(v, dict)}
    recorded.update(held)   # what Hydra wrote in the job's directory is what its run holds
    changed = [n for n, job in enumerate(jobs)
               if n in recorded and _compared(recorded[n]) != _compared(job)]
    if changed:
        n = changed[0]
        raise ConfigError(
            f"hydra.sweep.dir={sweep_dir} was run with another grid: job"
            f"{'s' if len(changed) > 1 else ''} {', '.join(map(str, changed))} had other "
            f"overrides (job {n}: [{', '.join(recorded[n])}], now [{', '.join(jobs[n])}]); rerun "
            "with the grid it holds (more jobs at the end are fine), or choose another "
            "hydra.sweep.dir (nothing was changed)")


def check_study_dir(sweep_dir: Path, storage: str | None, study_name: str | None) -> None:
    """One-line ConfigError for an Optuna sweep directory that cannot be continued: trial
    directories without the study's storage (an older gantrain), a storage that cannot be read,
    or a sweep directory's storage that holds another study (its trial numbers would reuse the
    job directories). ``storage``, ``study_name``: as configured (None: the defaults)."""
    read_sweep_file(sweep_dir)
    db = Path(sweep_dir) / STUDY_FILE
    if storage is None and not db.exists():
        trials = job_dirs(sweep_dir)
        if trials:
            raise ConfigError(
                f"hydra.sweep.dir={sweep_dir} holds {len(trials)} trials of an Optuna search but "
                f"no {STUDY_FILE} (an older gantrain's search, or its study file removed): it "
                "cannot be continued; choose another hydra.sweep.dir (its runs are untouched, "
                "gantrain-report reads them)")
        return
    url = storage or f"sqlite:///{db}"
    try:
        import optuna

        names = [s.study_name for s in optuna.storages.get_storage(url).get_all_study_summaries()]
    except Exception as e:   # noqa: BLE001 - any reason a storage cannot be read is said the same way
        raise_unreadable(url, e)
    name = study_name or STUDY_NAME
    if storage is None and names and name not in names:
        raise ConfigError(f"hydra.sweeper.study_name={name} is invalid: {db} holds the study "
                          f"{', '.join(names)} (trial k runs in job directory k, so one study per "
                          "sweep directory); leave study_name as it was or choose another "
                          "hydra.sweep.dir")


def raise_unreadable(url: str, e: BaseException) -> None:
    """The one-line ConfigError for a study storage that cannot be read."""
    raise ConfigError(f"the Optuna storage {url} is unreadable ({first_line(e.__cause__ or e)}); "
                      "its runs are untouched: restore the file, or choose another hydra.sweep.dir "
                      "to start a new search") from None


def check_sweep_dir(master: Any, jobs: list[list[str]] | None, optuna: bool) -> None:
    """Hold the sweep directory and check that this sweep may continue in it (see the module).

    Args:
        master: the sweep's composed master config.
        jobs: a grid's jobs, each its overrides (None: jobs not known in advance).
        optuna: whether the sweep is an Optuna search.
    """
    from gantrain.world import env_world

    sweep_dir = sweep_dir_of(master)
    if sweep_dir is None or env_world()[0] != 0:   # a new directory, or not the first process
        return
    hold(sweep_dir)
    try:
        if optuna:
            sweeper = master.hydra.sweeper
            check_study_dir(sweep_dir, sweeper.get("storage"), sweeper.get("study_name"))
        elif jobs is not None:
            check_grid(sweep_dir, jobs)
            for n in range(len(jobs)):   # a job of a killed sweep still running elsewhere ends first
                wait_until_free(sweep_dir / str(n))
        else:
            read_sweep_file(sweep_dir)
    except ConfigError:   # refused: the directory is left as it was, its lock file included
        _HELD.pop(sweep_dir).release()
        raise


def wait_until_free(run_dir: Path, poll_s: float = 2.0) -> None:
    """Wait while another process holds ``run_dir`` (a job of a sweep that was killed, e.g. a
    SLURM job still running after its ``gantrain -m`` was), saying so in one line."""
    said = False
    while Path(run_dir).is_dir():
        try:
            RunDirLock.refuse_if_held(run_dir)
            return
        except RunDirBusy as e:
            if not said:
                print(f"gantrain: waiting: {first_line(e)}", file=sys.stderr)
                said = True
            time.sleep(poll_s)
