"""`gantrain`: the Hydra command line."""
from __future__ import annotations

import difflib
import logging
import os
import re
import shutil
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gantrain import cli_help, hydra_private  # noqa: F401 - cli_help: `gantrain --help`'s resolver
from gantrain.config.store import CONFIG_DIR  # also fills the ConfigStore: every option's defaults
from gantrain.errors import ConfigError, first_line
from gantrain.rundir import failure_recorded
from gantrain.search import OPTUNA_SWEEPERS, sweeper_overrides, trial_value
from gantrain.sweep.guard import check_sweep_dir
from gantrain.sweep.record import job_recorded

log = logging.getLogger("gantrain")


# --- bad input, answered before Hydra starts ----------------------------------------------------
# Hydra reports a composition error (an unknown group option or key, an override it cannot parse)
# in 10-15 lines and exits 1 from inside hydra.main (run_and_report), out of reach of a try/except
# around it, and for a bad value only after it made the run directory. So the command line is
# composed here first, by Hydra's own config loader on the search path hydra.main builds, and the
# first error is answered in one line with exit code 2; a single run's composed config is also
# checked (``check``) before Hydra makes its directory. hydra.main then gets a command line known
# to compose. Anything this does not recognize is left to Hydra to report as before, and
# HYDRA_FULL_ERROR=1 skips it, keeping Hydra's full trace. The Hydra internals this needs are in
# gantrain.hydra_private.


def preflight(prog: str, config_name: str, check: Callable[[DictConfig], None],
              argv: list[str] | None = None, task_name: str = "cli") -> None:
    """Exit 2 with one line ``<prog>: error: ...`` on stderr when the command line does not
    compose, or, for a single run, when ``check`` refuses the composed config.

    Args:
        prog: the program name that starts the error line.
        config_name: the primary config (``train``, ``analyze``).
        check: validates a single run's composed config (raises ConfigError).
        argv: the arguments; None: ``sys.argv[1:]``, extended with what an Optuna sweep needs.
        task_name: Hydra's job name for this program.
    """
    try:
        extra = check_command_line(config_name, check, sys.argv[1:] if argv is None else argv,
                                   task_name)
        if argv is None and extra:   # what the sweep needs that the user did not say (Optuna)
            sys.argv += extra
    except ConfigError as e:
        from gantrain.world import env_world

        if env_world()[0] == 0:
            print(f"{prog}: error: {first_line(e)}", file=sys.stderr)
        sys.exit(2)


def check_command_line(config_name: str, check: Callable[[DictConfig], None], argv: list[str],
                       task_name: str) -> list[str] | None:
    """Compose ``argv`` as ``hydra.main`` would and raise ConfigError (one line) at the first
    problem: a config that does not compose, a sweep job that does not, or, for a single run,
    ``check`` refusing the composed config.

    Args:
        config_name: the primary config (``train``, ``analyze``).
        check: validates a single run's composed config (raises ConfigError).
        argv: the arguments after the program name.
        task_name: Hydra's job name for this program.

    Returns:
        Overrides an Optuna sweep needs that ``argv`` does not give, else None.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return None
    try:
        args = hydra_private.parse_args(argv)
    except SystemExit:   # a usage error or --version: Hydra's argparse answers those itself
        return None
    if _left_to_hydra(args):
        return None
    h = _composer(args.config_dir, task_name)
    name = args.config_name or config_name
    overrides = list(args.overrides)
    multirun = args.multirun
    if not multirun:
        try:
            cfg = h.compose(name, overrides, RunMode.RUN)
        except HydraException as e:
            # A comma list is a sweep without -m when the config itself sets hydra.mode=MULTIRUN.
            if not ("Ambiguous value" in str(e) and args.cfg is None
                    and h.mode(name, overrides) == RunMode.MULTIRUN):
                raise ConfigError(_explain(e, h, name, overrides, RunMode.RUN)) from None
            multirun = True
        else:
            multirun = args.cfg is None and cfg.hydra.mode == RunMode.MULTIRUN
    if multirun:   # a bad value among the jobs is recorded by that job (summary.json), not here
        return _compose_sweep(h, name, overrides)
    if args.cfg is None:
        check(cfg)
    return None




def _left_to_hydra(args: Any) -> bool:
    """Commands that compose nothing here: help, completion, --info, a rerun, --config-path, or
    more than one command (Hydra refuses that itself)."""
    commands = (args.run + (args.cfg is not None) + args.multirun + args.shell_completion
                + (args.info is not None))
    return bool(args.help or args.hydra_help or args.shell_completion or args.info is not None
                or args.experimental_rerun or args.config_path is not None or commands > 1)


def _composer(config_dir: str | None, task_name: str) -> hydra_private.Composer:
    """hydra.main's config loader, with ``--config-dir`` searched first when given."""
    if config_dir is not None and not os.path.isdir(os.path.abspath(config_dir)):
        raise ConfigError(f"--config-dir {config_dir} is invalid: no such directory "
                          f"({os.path.abspath(config_dir)})")
    return hydra_private.Composer(CONFIG_DIR, config_dir, task_name)


def _compose(h: hydra_private.Composer, name: str, overrides: list[str], mode: RunMode) -> DictConfig:
    try:
        return h.compose(name, overrides, mode)
    except HydraException as e:
        raise ConfigError(_explain(e, h, name, overrides, mode)) from None


def _compose_sweep(h: hydra_private.Composer, name: str, overrides: list[str]) -> list[str] | None:
    """Compose the sweep's master config, then one job for every distinct combination of the
    swept config-group options (the other keys' values leave the config's structure alone), as
    Hydra's BasicSweeper expands it: its ``params`` first, then the command line."""
    master = _compose(h, name, [*overrides, "hydra.mode=MULTIRUN"], RunMode.MULTIRUN)
    sweeper = master.hydra.sweeper
    if sweeper.get("_target_") in OPTUNA_SWEEPERS:   # Optuna samples its own jobs
        extra = sweeper_overrides(master, overrides, {_override_key(o) for o in overrides})
        check_sweep_dir(master, None, optuna=True)
        return extra
    if sweeper.get("_target_") != hydra_private.BASIC_SWEEPER:   # another sweeper expands its own way
        return None
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    try:
        parsed = h.parse_overrides(params + list(master.hydra.overrides.task))
        jobs = hydra_private.basic_sweep_jobs(parsed)
    except HydraException as e:
        raise ConfigError(_explain(e, h, name, params + overrides, RunMode.MULTIRUN)) from None
    groups = {o.get_key_element() for o in parsed if h.is_group(o.key_or_group)}
    fixed = list(master.hydra.overrides.hydra)   # what Hydra's load_sweep_config adds to each job
    seen = set()
    for job in jobs:
        choice = tuple(a for a in job if a.split("=", 1)[0] in groups)
        if choice not in seen:
            seen.add(choice)
            _compose(h, name, fixed + list(job), RunMode.RUN)
    check_sweep_dir(master, jobs, optuna=False)   # a changed grid, before any work
    return None


def _override_key(text: str) -> str | None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(text).key_or_group
    except HydraException:
        return None


def _explain(e: HydraException, h: hydra_private.Composer, name: str, overrides: list[str],
             mode: RunMode) -> str:
    """Hydra's composition error as one line naming the bad override and what is allowed."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    if isinstance(e, MissingConfigException) and e.options and "/" in (e.missing_cfg_file or ""):
        group, option = e.missing_cfg_file.rsplit("/", 1)
        return f"{group}={option} is invalid: allowed: {', '.join(sorted(e.options))}"
    if isinstance(e, OverrideParseException):
        bad = next((o for o in overrides if _override_key(o) is None), "an override")
        return (f"{bad} cannot be parsed: {first_line(e)} (quote a value with special characters, "
                "e.g. key='a b')")
    m = re.match(r"Could not override '([^']+)'", str(e))
    if m and isinstance(e.__cause__, (ConfigKeyError, ConfigAttributeError)):
        return _unknown_key(m.group(1), h, name, overrides, mode)
    m = re.match(r"Ambiguous value for argument '([^']+)'", str(e))
    if m:
        return (f"{m.group(1)} is a sweep: add -m (--multirun) for one run per value (a list is "
                "key=[a,b], a string with a comma key='a,b')")
    cause = f": {first_line(e.__cause__)}" if e.__cause__ is not None else ""
    return f"{first_line(e)}{cause}"


def _paths(tree: dict, prefix: str = ""):
    for k, v in tree.items():
        path = f"{prefix}{k}"
        yield path, v
        if isinstance(v, dict):
            yield from _paths(v, path + ".")


def _schema_options(group: str, key: str) -> list[str]:
    """The options of ``group`` whose schema has ``key``."""
    from gantrain.config.schema import GROUPS

    return [opt for opt, schema in GROUPS.get(group, {}).items()
            if key in {f.name for f in fields(schema)}]


def _unknown_key(key: str, h: hydra_private.Composer, name: str, overrides: list[str], mode: RunMode) -> str:
    from gantrain.config.schema import GROUPS, SECTIONS

    given = next((o for o in overrides if _override_key(o) == key), key)
    try:   # the config without the bad override, to say what is there instead
        cfg = h.compose(name, [o for o in overrides if _override_key(o) != key], mode,
                        validate_sweep_overrides=False)
        tree = OmegaConf.to_container(cfg, resolve=False)
    except Exception:   # another override is bad too: name this one anyway
        tree = {}
    if not key.startswith("hydra."):
        tree.pop("hydra", None)
    parts = key.split(".")
    node, i = tree, 0
    while i < len(parts) - 1 and isinstance(node.get(parts[i]), dict):
        node, i = node[parts[i]], i + 1
    where, missing, tail = ".".join(parts[:i]), parts[i], parts[i + 1:]
    if missing in node:   # e.g. gamma.x=1
        return f"{given} is invalid: {'.'.join(parts[:i + 1])} is a value, not a section"
    if where:
        label = f"{where}={node['name']}" if where in GROUPS and "name" in node else where
        msg = f"{given} is invalid: {label} has no key {missing}; its keys: {', '.join(sorted(node))}"
        others = _schema_options(where, missing)
        close = difflib.get_close_matches(missing, list(node), n=1)
        if others:
            return msg + f" ({where}.{missing} is a key of {where}={'/'.join(others)})"
        return msg + (f"; did you mean {where}.{close[0]}?" if close else "")
    # A top-level key: a key of that name deeper down (the missing group prefix), in the config
    # as composed or in another option of a group, else a near spelling.
    hints: list[str] = []
    for path, value in _paths(tree):
        if "." in path and path.rsplit(".", 1)[1] == missing:
            target = re.fullmatch(r"\$\{([\w.]+)\}", value) if isinstance(value, str) else None
            if target and target.group(1) not in hints:   # optim.lr: ${eta} -> eta comes first
                hints.append(target.group(1))
            hints.append(".".join([path, *tail]) + (f" (it follows {target.group(1)})" if target else ""))
    for group in [*GROUPS, *SECTIONS]:
        opts = _schema_options(group, missing) if group in GROUPS else (
            [None] if missing in {f.name for f in fields(SECTIONS[group])} else [])
        if opts and not any(hint.startswith(f"{group}.{missing}") for hint in hints):
            where_ = f" (with {group}={'/'.join(opts)})" if opts != [None] else ""
            hints.append(".".join([group, missing, *tail]) + where_)
    hints = hints or difflib.get_close_matches(missing, list(tree), n=2)
    if hints:
        return f"{given} is invalid: {missing} is not a top-level key; did you mean {' or '.join(hints)}?"
    return (f"{given} is invalid: {missing} is not a key; top-level keys: {', '.join(sorted(tree))} "
            f"(+{key}=... adds a new one)")


def drop_if_only_hydra_files(run_dir: Path) -> None:
    """A config error leaves no trace in a directory Hydra made just now for this run: remove
    ``run_dir`` (and its date folder, when empty) unless it holds more than Hydra's files."""
    if (run_dir / "config.yaml").exists():
        return
    if all(p.name in (".hydra",) or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)
        try:  # the date folder of the default run directory, when this run was its only one
            run_dir.parent.rmdir()
        except OSError:
            pass




def _shared_run_dir(cfg: DictConfig, run_dir: Path) -> Path:
    """Under torch.distributed every process runs this Hydra app; rank 0's run directory is the
    run's. The others (started with no .hydra folder and no log file, see ``main``) drop the
    empty directory Hydra made for them when it differs (e.g. a ${now:...} a second later)."""
    from gantrain import distributed as ddp
    from gantrain.engine import resolve_device

    ddp.init(ddp.local_device(resolve_device(cfg.device)))
    shared = Path(ddp.broadcast_object(str(run_dir)))
    if shared.resolve() != run_dir.resolve():
        for d in (run_dir, run_dir.parent):
            try:
                d.rmdir()   # only when empty
            except OSError:
                break
    return shared


# What the pre-check of a single run found (``gantrain.config.Checked``), for the run itself.
PREFLIGHT: dict = {}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> float | None:
    from gantrain.train import train
    from gantrain.world import env_world

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    rank, world, _ = env_world()
    if world > 1:
        try:
            run_dir = _shared_run_dir(cfg, run_dir)
        except ConfigError as e:
            if rank == 0:
                print(f"gantrain: error: {e}", file=sys.stderr)
            sys.exit(2)
    # In a sweep a bad or crashing job is recorded (summary.json: failed) and the sweep goes on.
    sweeping = hc.mode == RunMode.MULTIRUN
    try:
        with failure_recorded(run_dir, enabled=sweeping), \
                job_recorded(run_dir, cfg.steps, enabled=sweeping and rank == 0):   # sweep.json
            # a single run's config is the one the pre-check composed and checked
            summary = train(cfg, run_dir, None if sweeping else PREFLIGHT.get("checked"))
    except ConfigError as e:
        if sweeping:
            log.error("job %s: %s", hc.job.num, e)
            return None
        if rank == 0:
            drop_if_only_hydra_files(run_dir)
            print(f"gantrain: error: {e}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # the run wrote status: failed with the error
        if not sweeping:
            raise
        log.error("job %s failed: %s: %s", hc.job.num, type(e).__name__, e)
        return None
    if world > 1:
        from gantrain import distributed as ddp
        ddp.shutdown()
    if rank != 0:
        return
    m = summary["metrics"]
    shown = ", ".join(f"{k}={m[k]:.4g}" for k in ("modes_covered", "high_quality_fraction",
                                                   "mode_kl", "dist_equilibrium")
                      if isinstance(m.get(k), (int, float)))
    log.info("%s after %d steps (%.1f s)%s -> %s", summary["status"], summary["steps_done"],
             summary["wall_time_s"], f": {shown}" if shown else "", run_dir)
    if sweeping and hc.sweeper.get("_target_") in OPTUNA_SWEEPERS:
        return trial_value(cfg, summary)   # Optuna's value of this trial
    return None


def main() -> None:
    """The ``gantrain`` script (also ``python -m gantrain.cli``, e.g. under torchrun)."""
    from gantrain.preemption import catch_early
    from gantrain.world import env_world

    catch_early()   # a SLURM signal during the imports stops the run at step 0, with a checkpoint

    rank, world, _ = env_world()
    if world > 1 and rank != 0:   # rank 0 alone keeps Hydra's .hydra folder and log file
        sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=disabled",
                     "hydra/hydra_logging=disabled"]
    from gantrain.config import validate

    def check(cfg: DictConfig) -> None:
        PREFLIGHT["checked"] = validate(cfg)   # the run takes it: validate runs once per run
        if world == 1:   # under torch.distributed rank 0 takes the lock later; the others never
            _refuse_busy_run_dir(cfg)

    preflight("gantrain", "train", check)
    _main()


def _refuse_busy_run_dir(cfg: DictConfig) -> None:
    """A second process in a running run's directory is refused before Hydra rewrites that run's
    .hydra files and log (the run itself also checks, under its lock)."""
    from gantrain.rundir import RunDirLock

    try:
        run_dir = Path(str(cfg.hydra.run.dir))
    except Exception:   # noqa: BLE001 - an unresolvable ${now:...} names a new directory anyway
        return
    if run_dir.is_dir():
        RunDirLock.refuse_if_held(run_dir)


if __name__ == "__main__":
    main()
