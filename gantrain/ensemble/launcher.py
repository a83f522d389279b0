"""``launcher=ensemble``: a Hydra launcher that packs the jobs of a sweep into ensembles.

Jobs whose configs differ only in seed, γ, η/lr (``gantrain.ensemble.packing``) and that an
ensemble can express (``check_member_config``: the rule, its regularizer estimate, the game, the
net) share one process, up to ``hydra.launcher.size`` members at a time; every other job, and a
group of one, runs as Hydra's basic launcher runs it (one after another, through gantrain's own
task function), the reason in its log line. Every job, member or not, gets its Hydra job directory
with the ``.hydra`` files and its own run files. A sweep in which no job can run at all (every one
refused by the config checks) is refused in one line before any job directory is made.

The Hydra plugin class is ``hydra_plugins.gantrain_ensemble_launcher.EnsembleLauncher`` (Hydra
only instantiates launchers from the ``hydra_plugins`` namespace); this module does the work.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import DictConfig, open_dict

from gantrain.errors import ConfigError, first_line
from gantrain.sweep.record import record_member, state_before

log = logging.getLogger("gantrain")


def checked_member(cfg: DictConfig):
    """The run ``cfg`` checked (``gantrain.config.Checked``) when it can be an ensemble member.

    Raises:
        ConfigError: the config checks' refusal, or what the ensemble cannot express (its rule,
            regularizer estimate, game, net).
    """
    from gantrain.config import validate
    from gantrain.ensemble.coverage import check_member_config

    checked = validate(cfg)
    check_member_config(cfg)
    return checked


def member_problem(cfg: DictConfig) -> str | None:
    """Why the run ``cfg`` cannot be an ensemble member (None when it can)."""
    try:
        checked_member(cfg)
    except ConfigError as e:
        return first_line(e)
    return None


def _runnable(cfg: DictConfig) -> bool:
    """Whether any launcher can run ``cfg`` (the config checks accept it)."""
    from gantrain.config import validate

    try:
        validate(cfg)
    except ConfigError:
        return False
    return True


def _refuse(message: str, sweep_dir: Path | None = None) -> None:
    """Exit 2 with one line, as gantrain's pre-check does (a launcher's exception would reach the
    user as Hydra's traceback); the sweep directory goes when it holds only Hydra's multirun.yaml
    and the lock this sweep took on it (``gantrain.sweep.guard``)."""
    made = {"multirun.yaml", ".lock"}
    if sweep_dir is not None and sweep_dir.is_dir() and \
            {p.name for p in sweep_dir.iterdir()} <= made:
        for name in made:
            (sweep_dir / name).unlink(missing_ok=True)
        sweep_dir.rmdir()
    print(f"gantrain: error: {message}", file=sys.stderr)
    sys.exit(2)


def launch(launcher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int,
           size: int) -> list[JobReturn]:
    """Run the jobs; their JobReturns in order (what Hydra's basic launcher returns)."""
    from gantrain.ensemble.engine import train_ensemble
    from gantrain.ensemble.packing import pack, pack_key

    if isinstance(size, bool) or not isinstance(size, (int, float)) or int(size) != size or size < 1:
        _refuse(f"hydra.launcher.size={size!r} is invalid: must be an integer >= 1",
                Path(str(launcher.config.hydra.sweep.dir)))
    setup_globals()
    config, ctx = launcher.config, launcher.hydra_context
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_cfgs = []
    for idx, overrides in enumerate(job_overrides, initial_job_idx):
        sweep_cfg = ctx.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(sweep_cfg):
            sweep_cfg.hydra.job.id = idx
            sweep_cfg.hydra.job.num = idx
        sweep_cfgs.append(sweep_cfg)
    # Which jobs may be members: the task config as the job will see it (hydra node dropped).
    keys, reasons, checks, runnable = [], [], {}, 0
    for idx, sc in enumerate(sweep_cfgs, initial_job_idx):
        task = sc.copy()
        with open_dict(task):
            del task["hydra"]
        try:   # a member's check is kept for its run: validate runs once per member
            checks[idx], why = checked_member(task), None
        except ConfigError as e:
            why = first_line(e)
        runnable += why is None or _runnable(task)   # a refused job runs on its own and records
        reasons.append(why)                           # its failure, as in a basic sweep
        keys.append(None if why else pack_key(task))
    if not runnable:   # nothing to run: one line, before any directory is made
        _refuse(f"{reasons[0]} (every job of the sweep is refused; job #{initial_job_idx}: "
                f"{' '.join(filter_overrides(job_overrides[0]))})", Path(str(config.hydra.sweep.dir)))
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    groups = pack([k if k is not None else f"single {i}" for i, k in enumerate(keys)], int(size))
    rets: dict[int, JobReturn] = {}
    log.info("launching %d jobs as %d groups (ensembles of up to %d members)", len(sweep_cfgs),
             len(groups), size)
    for group in groups:
        if len(group) == 1:   # not packable, or alone: the basic launcher's way
            i = group[0]
            log.info("\t#%d : %s%s", initial_job_idx + i, " ".join(filter_overrides(job_overrides[i])),
                     f" (single run: {reasons[i]})" if reasons[i] else "")
            rets[i] = run_job(hydra_context=ctx, task_function=launcher.task_function,
                              config=sweep_cfgs[i], job_dir_key="hydra.sweep.dir",
                              job_subdir_key="hydra.sweep.subdir")
            continue
        members, jobs = [], []   # (task config, run directory), (sweep.json's facts of the job)
        for i in group:
            log.info("\t#%d : %s (ensemble member)", initial_job_idx + i,
                     " ".join(filter_overrides(job_overrides[i])))
            rets[i] = run_job(hydra_context=ctx, config=sweep_cfgs[i],
                              task_function=lambda cfg: _member(cfg, members, jobs, checks),
                              job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
        _train(train_ensemble, members)
        for job in jobs:   # each member's job in sweep.json, as a job run alone records itself
            record_member(*job)
    return [rets[i] for i in range(len(sweep_cfgs))]


def _member(cfg: DictConfig, members: list, jobs: list, checks: dict) -> None:
    """Hydra's task function for a member: note its config, its check and run directory (the
    ensemble trains it later) and what sweep.json will need of its job."""
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    members.append((cfg, run_dir, checks[int(hc.job.num)]))
    jobs.append((Path(hc.sweep.dir).absolute(), int(hc.job.num), list(hc.overrides.task),
                 state_before(run_dir, int(cfg.steps)), run_dir))


def _train(train_ensemble, members: list) -> None:
    """One ensemble; a failure is recorded by its members (summary.json) and the sweep goes on,
    as gantrain's task function does for one job of a sweep."""
    try:
        summaries = train_ensemble([c for c, _, _ in members], [d for _, d, _ in members],
                                   [k for _, _, k in members])
    except Exception as e:   # noqa: BLE001 - every member wrote status: failed with the error
        log.error("ensemble of %d members failed: %s: %s", len(members), type(e).__name__,
                  first_line(e))
        return
    for (_, run_dir, _), s in zip(members, summaries):
        if s is not None:
            log.info("%s after %d steps -> %s", s.get("status"), s.get("steps_done", 0), run_dir)
