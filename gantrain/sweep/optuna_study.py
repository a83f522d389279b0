"""The Optuna search that resumes (``gantrain -m hydra/sweeper=optuna``): hydra-optuna-sweeper's
settings and search space, with its study kept in the sweep directory (``optuna.db``, SQLite
through Optuna's RDB storage, study ``gantrain``; ``hydra.sweeper.storage``/``study_name`` choose
another).

- ``n_trials`` counts every trial the study holds: a rerun in the same directory runs what is
  missing up to it, so a finished search reruns nothing, and ``n_trials`` raised adds trials.
- Trial ``k`` runs in job directory ``k`` (``hydra.job.num`` = the trial's number), so a job
  directory holds one point only, across any number of reruns.
- A trial a killed sweep left RUNNING is run again, first, at its own point in its own directory:
  the run resumes from its checkpoint, or finds itself finished, and only then is the trial told.
  A run still held by another process (a SLURM job of the killed sweep) is waited for.
- A seeded sampler continuing a study is seeded ``seed + number of trials`` (the same seed would
  propose the first points again).

The one module that uses hydra-optuna-sweeper's private ``_impl`` (written for its 1.3.0, with
optuna 2.10.1): the class ``OptunaSweeperImpl`` (its ``_configure_trials``,
``_process_searchspace_config``, ``_parse_sweeper_params_config``, ``_to_grid_sampler_choices``,
``_get_directions``) and ``create_params_from_overrides``."""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import optuna
from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from omegaconf import OmegaConf
from optuna.trial import TrialState

from gantrain.errors import first_line
from gantrain.sweep.guard import (
    STUDY_FILE,
    STUDY_NAME,
    check_study_dir,
    hold,
    raise_unreadable,
    wait_until_free,
)

log = logging.getLogger("gantrain")
PLUGIN_VERSION = "1.3.0"


class ResumableOptunaSweeperImpl(OptunaSweeperImpl):
    """hydra-optuna-sweeper's sweeper with a ``sweep`` that resumes (see the module)."""

    def sweep(self, arguments: list[str]) -> None:
        space, fixed = self._search_space(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir).absolute()
        hold(sweep_dir)
        check_study_dir(sweep_dir, self.storage, self.study_name)
        study = self._open_study(sweep_dir)
        self._rerun_interrupted(study, sweep_dir, space, fixed)
        while (todo := self.n_trials - _counted(study, space)) > 0:
            trials = [study.ask() for _ in range(min(todo, self.n_jobs))]
            overrides = self._configure_trials(trials, space, fixed)
            self._run(study, [t.number for t in trials], overrides)
        self._save_results(study)

    def _search_space(self, arguments: list[str]) -> tuple[dict, dict]:
        """The distributions and the fixed parameters, as the plugin's ``sweep`` builds them."""
        self._process_searchspace_config()
        space_over, fixed = create_params_from_overrides(
            self._parse_sweeper_params_config() + list(arguments))
        space = dict(self.search_space_distributions or {})
        space.update(space_over)
        if self._is_grid():
            grid = {name: self._to_grid_sampler_choices(d) for name, d in space.items()}
            self.sampler = self.sampler(grid)
            self.n_trials = min(self.n_trials, math.prod(len(v) for v in grid.values()))
        for name in fixed:
            space.pop(name, None)
        return space, fixed

    def _is_grid(self) -> bool:
        return (isinstance(self.sampler, functools.partial)
                and self.sampler.func == optuna.samplers.GridSampler)

    def _open_study(self, sweep_dir: Path) -> optuna.Study:
        url = self.storage or f"sqlite:///{sweep_dir / STUDY_FILE}"
        try:
            study = optuna.create_study(study_name=self.study_name or STUDY_NAME, storage=url,
                                        sampler=self.sampler, directions=self._get_directions(),
                                        load_if_exists=True)
            n = len(study.get_trials(deepcopy=False))
        except Exception as e:   # noqa: BLE001 - a storage that cannot be read, for any reason
            raise_unreadable(url, e)
        seed = OmegaConf.select(self.config, "hydra.sweeper.sampler.seed")
        if n and seed is not None and not self._is_grid():
            study.sampler = instantiate(self.config.hydra.sweeper.sampler, seed=seed + n)
        log.info("Optuna study %s in %s: %d trials so far, %d in total", study.study_name, url, n,
                 self.n_trials)
        return study

    def _rerun_interrupted(self, study: optuna.Study, sweep_dir: Path, space: dict,
                           fixed: dict) -> None:
        """Run again the trials a killed sweep left RUNNING, each at its point, in its directory;
        one never launched (asked, no point yet) is failed and not counted."""
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        ready = [t for t in running if set(space) <= set(t.params)]
        for t in running:
            if t not in ready:
                study.tell(t.number, state=TrialState.FAIL)
        if not ready:
            return
        log.warning("continuing trials %s, left running by a sweep that was stopped",
                    ", ".join(str(t.number) for t in ready))
        for t in ready:
            wait_until_free(sweep_dir / str(t.number))
        overrides = [_point(t.params, space, fixed) for t in ready]
        self._run(study, [t.number for t in ready], overrides)

    def _run(self, study: optuna.Study, numbers: list[int], overrides: Sequence[Sequence[str]]) -> None:
        """Launch the trials (job number = trial number, consecutive numbers in one batch) and
        tell Optuna each result; too many failures raise as the plugin does."""
        failures, returns = 0, []
        i = 0
        while i < len(numbers):
            j = i + 1
            while j < len(numbers) and numbers[j] == numbers[j - 1] + 1:
                j += 1
            batch = self.launcher.launch(list(overrides[i:j]), initial_job_idx=numbers[i])
            for number, ret in zip(numbers[i:j], batch):
                failures += not self._tell(study, number, ret)
            returns += batch
            i = j
        if returns and failures / len(returns) > self.max_failure_rate:
            log.error("failed %d times out of %d with max_failure_rate=%s", failures, len(returns),
                      self.max_failure_rate)
            for ret in returns:
                ret.return_value   # raises the first failed job's error, with its traceback

    def _tell(self, study: optuna.Study, number: int, ret: Any) -> bool:
        """Tell Optuna trial ``number``'s value (a failed trial when there is none); whether it
        had one."""
        multi = len(self._get_directions()) > 1
        try:
            value = ret.return_value   # raises the job's error when the job failed
            values = [float(v) for v in value] if multi else float(value)
            state = TrialState.COMPLETE
        except Exception as e:   # noqa: BLE001 - any job error is a failed trial
            log.warning("trial %d failed: %s", number, first_line(e))
            values, state = None, TrialState.FAIL
        try:
            study.tell(number, values=values, state=state)
        except RuntimeError as e:   # GridSampler stops the study after its last point
            if "Study.stop" not in str(e):
                raise
        return state == TrialState.COMPLETE

    def _save_results(self, study: optuna.Study) -> None:
        """``optimization_results.yaml``, as the plugin writes it (when a trial completed)."""
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            log.warning("no trial completed: no optimization_results.yaml")
            return
        if len(self._get_directions()) < 2:
            best = study.best_trial
            results = {"name": "optuna", "best_params": best.params, "best_value": best.value}
            log.info("Best parameters: %s, value %s", best.params, best.value)
        else:
            results = {"name": "optuna", "solutions": [{"params": t.params, "values": t.values}
                                                       for t in study.best_trials]}
        OmegaConf.save(OmegaConf.create(results),
                       f"{self.config.hydra.sweep.dir}/optimization_results.yaml")


def _point(params: dict, space: dict, fixed: dict) -> tuple[str, ...]:
    """A trial's overrides in the order its first launch had them (the search space's order)."""
    ordered = {**{k: params[k] for k in space if k in params}, **params, **fixed}
    return tuple(f"{k}={v}" for k, v in ordered.items())


def _counted(study: optuna.Study, space: dict) -> int:
    """The trials that count towards ``n_trials``: all but those failed before their launch
    (no point drawn)."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.params or not space or t.state != TrialState.FAIL)
