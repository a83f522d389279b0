"""The training loop: one run from a composed config to a run directory.

A run directory holds ``config.yaml`` (the composed config), ``metrics.jsonl``, ``images/``,
``checkpoints/last.pt`` (and the ``keep_last - 1`` checkpoints before it) and ``summary.json``.
Rerunning in the same directory resumes; one process at a time holds it (``.lock``). What is
written is ``gantrain.recorder.Recorder``'s, the loop and when a run records, checkpoints and ends
``gantrain.loop``'s (the ensemble's too); a single run is one course of it, stepped here by the
rule on the run's own game.

Faults: SIGTERM and SIGUSR1 (and submitit's preemption signal) stop the run at the next step
boundary with a checkpoint, ``summary.json`` status ``preempted`` and exit code EXIT_PREEMPTED; an
unreadable newest checkpoint falls back to the one before it; an OSError while writing ends the run
``failed`` in one line naming the file.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from gantrain import distributed as ddp
from gantrain.config import Checked
from gantrain.config.schema import Logger
from gantrain.errors import ConfigError
from gantrain.loop import Course, run_courses
from gantrain.preemption import EXIT_PREEMPTED, Preempted, StopSignals, hand_over
from gantrain.rules import RULES, build_rule
from gantrain.run_parts import assemble, prepare, seeded_game
from gantrain.rundir import RunDirBusy, writing
from gantrain.tracking import WandbLogger

log = logging.getLogger("gantrain")
__all__ = ["EXIT_PREEMPTED", "Preempted", "Trainer", "check_distributed", "train"]


class Trainer:
    """One run: its parts (``gantrain.run_parts``, as every ensemble member builds them), the rule,
    and the loop that steps, records and stops."""

    def __init__(self, cfg: DictConfig, run_dir: Path, checked: Checked | None = None):
        self.run_dir = Path(run_dir)
        setting = prepare(cfg, self.run_dir, checked)
        self.cfg = setting.checked   # what the run reads from here on: the typed sections
        self.config, self.device, self.dtype = setting.config, setting.device, setting.dtype
        self.shard = ddp.init(self.device)
        self.main = self.shard.rank == 0     # rank 0 alone writes files and talks to wandb
        sync_bn = check_distributed(self.cfg, self.shard.world)

        self.game = seeded_game(setting)
        self.rule = build_rule(self.cfg.method.name, self.cfg.gamma, self.cfg.method)
        if self.shard.world > 1:
            self.game.shard = self.shard
            self.rule.reduce = ddp.all_reduce_mean
            if getattr(self.game, "evaluator", None) is not None:
                self.game.evaluator.shard = self.shard
            if sync_bn:
                ddp.SyncBatchNorm.convert(self.game.generator)
                ddp.SyncBatchNorm.convert(self.game.discriminator)
        parts = assemble(self.run_dir, self.game, setting, self.shard, self.rule)
        self.opt_d, self.opt_g, self.data_rng = parts.opt_d, parts.opt_g, parts.data_rng
        self.recorder = parts.recorder
        self.lock = self.recorder.lock
        self.signals = StopSignals()
        self.monitor = None
        if self.cfg.analysis.every > 0 and self.main:
            from gantrain.analysis.monitor import SpectrumMonitor
            self.monitor = SpectrumMonitor(cfg, self.game)   # the analysis reads the composed config

    def _stop_requested(self) -> bool:
        """Whether a stop signal came (on any process: every process stops at the same step)."""
        return ddp.any_true(bool(self.signals.received))

    # --- the run -----------------------------------------------------------------------------
    def run(self) -> dict:
        refusal = None
        if self.main:
            try:
                with writing(self.lock.path):
                    self.lock.acquire()
            except ConfigError as e:
                refusal = e
        if ddp.any_true(refusal is not None):   # every process learns that rank 0 was refused
            raise refusal or RunDirBusy(f"{self.run_dir} is in use by another process")
        try:
            return self._run()
        except Preempted as stop:
            hand_over(stop, self.signals, requeue=bool(self.main and self.cfg.requeue))
            raise
        finally:
            self.lock.release()

    def _run(self) -> dict:
        course = Course(self.cfg, self.recorder, self.game, shard=self.shard,
                        extras=self._spectrum)
        logger_cfg = self.cfg.logger if self.main else Logger(mode="disabled")
        with self.signals:
            try:
                course.open(lambda wandb_id: WandbLogger(logger_cfg, self.run_dir, self.config,
                                                         name=self.run_dir.name,
                                                         resume_id=wandb_id))
            except BaseException as e:
                course.fail(e)
                raise
            if course.result is not None:   # it had ended before
                return course.result
            bar = self._bar(course)
            try:
                run_courses([course], self._stepper, lambda: self.signals.received,
                            self._stop_requested,
                            on_step=lambda step, recorded: self._progress(bar, course, recorded))
            finally:
                bar.close()
        ddp.barrier()   # rank 0's files are complete before any process goes on (e.g. resumes)
        return course.result

    def _bar(self, course: Course):
        from tqdm import tqdm

        cfg = self.cfg
        return tqdm(total=cfg.steps, initial=course.start, disable=not (cfg.progress and self.main),
                    unit="step", dynamic_ncols=True, desc=f"{cfg.method.name} {cfg.dataset.name}")

    @staticmethod
    def _progress(bar, course: Course, recorded: bool) -> None:
        if recorded:
            bar.set_postfix({k: f"{course.last[k]:.3g}" for k in ("loss_d", "loss_g", "modes_covered",
                                                                  "dist_equilibrium")
                             if course.last.get(k) is not None}, refresh=False)
        bar.update(1)

    def _stepper(self, step: int, active: list, diagnose: bool) -> tuple[list, float]:
        """The rule's update of both players (timed), then the game's bookkeeping; the step's
        statistics with the parameter norm (a ``gantrain.loop.Stepper`` of one run)."""
        t_step = time.perf_counter()
        # JARE App. C's flow cosines on the logged steps (gantrain.rules.flow)
        self.rule.diagnose = diagnose
        stats = self.rule.train_step(self.game, self.opt_d, self.opt_g, self.cfg.batch_size,
                                     self.data_rng)
        if torch.device(self.device).type == "cuda":   # time the work, not the launch
            torch.cuda.synchronize()
        dt = time.perf_counter() - t_step
        if self.shard.world > 1:   # one set of batch-norm statistics on every process
            ddp.average_buffers([self.game.generator, self.game.discriminator])
        self.game.after_step(step)
        stats["param_norm"] = self.game.param_norm()
        return [stats], dt

    def _spectrum(self, step: int, reason: str | None) -> tuple[dict, list[Path]]:
        """The field's spectrum every ``analysis.every`` steps (not at a diverged point)."""
        if self.monitor is None or reason is not None or not self.monitor.due(step):
            return {}, []
        with writing(self.run_dir / "images"):
            return self.monitor(step, self.run_dir / "images")


def check_distributed(cfg: Checked, world: int) -> bool:
    """Refuse (one line) a world size that does not divide the global batch; return whether batch
    norm is synchronized (``distributed.sync_batchnorm``, default false: per-process batch norm,
    i.e. ghost batches of batch_size / W)."""
    sync = bool(cfg.distributed.sync_batchnorm)   # the section's schema holds its default
    if world == 1:
        return False
    parts = 2 if RULES[cfg.method.name].estimate(cfg.method) == "unbiased" else 1
    if cfg.batch_size % (parts * world):
        what = "each half-batch of " if parts == 2 else ""
        raise ConfigError(f"batch_size={cfg.batch_size} is invalid with {world} processes: "
                          f"batch_size is the global batch and {what}it must split evenly "
                          f"over the processes")
    return sync


def train(cfg: DictConfig, run_dir: Path, checked: Checked | None = None) -> dict:
    """Train one run in ``run_dir`` (resuming it if it has a checkpoint).

    Args:
        cfg: the composed config.
        run_dir: the run's directory.
        checked: ``gantrain.config.validate(cfg)`` when the caller already checked it.
    Returns:
        its summary.
    """
    return Trainer(cfg, run_dir, checked).run()
