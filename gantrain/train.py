"""The training loop: one run from a composed config to a run directory.

A run directory holds ``config.yaml`` (the composed config), ``metrics.jsonl``, ``images/``,
``checkpoints/last.pt`` (and the ``keep_last - 1`` checkpoints before it) and ``summary.json``.
Rerunning in the same directory resumes; one process at a time holds it (``.lock``). What is
written, and when a run has ended, is ``gantrain.recorder.Recorder``'s; the loop here steps.

Faults: SIGTERM and SIGUSR1 (and submitit's preemption signal) stop the run at the next step
boundary with a checkpoint, ``summary.json`` status ``preempted`` and exit code EXIT_PREEMPTED; an
unreadable newest checkpoint falls back to the one before it; an OSError while writing ends the run
``failed`` in one line naming the file.
"""
from __future__ import annotations

import logging
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from gantrain import distributed as ddp
from gantrain import engine
from gantrain.checkpoint import CheckpointIO
from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.preemption import EXIT_PREEMPTED, Preempted, StopSignals, hand_over
from gantrain.recorder import Recorder
from gantrain.rules import RULES, build_rule
from gantrain.rundir import RunDirBusy, check_run_dir, writing
from gantrain.tracking import WandbLogger

log = logging.getLogger("gantrain")


@dataclass
class _Progress:
    """Where one session of a run stands: its clock (``wall_before`` from the checkpoint plus this
    session's time since ``t0``), steps and last record, and why it ended."""
    wall_before: float = 0.0
    t0: float = field(default_factory=time.perf_counter)
    start: int = 0
    step: int = 0
    done: int = 0                 # the last step whose update was applied
    saved: int | None = None      # the last step checkpointed in this session
    last: dict = field(default_factory=dict)   # the last record
    logger: WandbLogger | None = None
    reason: str | None = None     # why the run diverged
    stopped: bool = False         # a stop signal came

    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.t0


class Trainer:
    def __init__(self, cfg: DictConfig, run_dir: Path):
        validate(cfg)
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.config = OmegaConf.to_container(cfg, resolve=True)
        check_run_dir(self.run_dir, self.config)   # refuses another run's directory before any work
        self.device = ddp.local_device(engine.setup(cfg))
        self.dtype = getattr(torch, cfg.dtype)
        self.shard = ddp.init(self.device)
        self.main = self.shard.rank == 0     # rank 0 alone writes files and talks to wandb
        sync_bn = check_distributed(cfg, self.shard.world)

        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        random.seed(cfg.seed)
        self.game = build_game(cfg, self.device, self.dtype)
        self.rule = build_rule(cfg.method.name, cfg.gamma,
                               {k: v for k, v in cfg.method.items() if k != "name"})
        if self.shard.world > 1:
            self.game.shard = self.shard
            self.rule.reduce = ddp.all_reduce_mean
            if getattr(self.game, "evaluator", None) is not None:
                self.game.evaluator.shard = self.shard
            if sync_bn:
                ddp.SyncBatchNorm.convert(self.game.generator)
                ddp.SyncBatchNorm.convert(self.game.discriminator)
        self.opt_d = build_optimizer(cfg.optim, self.game.d_params())
        self.opt_g = build_optimizer(cfg.optim, self.game.g_params())
        self.data_rng = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.ckpt = CheckpointIO(self.run_dir / "checkpoints", keep_last=cfg.keep_last,
                                 generator=self.game.generator,
                                 discriminator=self.game.discriminator, opt_g=self.opt_g,
                                 opt_d=self.opt_d, game=self.game)
        if self.rule.stateful:   # e.g. optimistic's previous gradient: part of the trajectory
            self.ckpt.register(rule=self.rule)
        self.recorder = Recorder(cfg, self.run_dir, self.ckpt, self.game, self.data_rng,
                                 self.shard, self.device)
        self.lock = self.recorder.lock
        self.signals = StopSignals()
        self.monitor = None
        if cfg.analysis.every > 0 and self.main:
            from gantrain.analysis.monitor import SpectrumMonitor
            self.monitor = SpectrumMonitor(cfg, self.game)

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
        prev = self.recorder.finished_before()
        if prev is not None:
            return prev
        p = _Progress()
        with self.signals:
            try:
                self._start(p)
                self._train(p)
            except BaseException as e:
                self._fail(p, e)
                raise
        return self._finish(p)

    def _start(self, p: _Progress) -> None:
        """Write config.yaml, resume or start (the step-0 record), open the logger."""
        cfg = self.cfg
        self.recorder.write_config()
        start, p.wall_before, wandb_id, resumed = self.recorder.restore()
        p.t0 = time.perf_counter()
        p.start = p.step = p.done = p.saved = start
        logger_cfg = cfg.logger if self.main else OmegaConf.create({"mode": "disabled"})
        p.logger = WandbLogger(logger_cfg, self.run_dir, self.config, name=self.run_dir.name,
                               resume_id=wandb_id)
        # A run resumed at its last step logs nothing new: its final values are on disk.
        p.last = (self.recorder.metrics.read() or [{}])[-1] if resumed else {}
        if not resumed:
            p.saved = None
            spectral, spectral_images = self._spectrum(0, None)
            p.last = self.recorder.record(0, {"param_norm": self.game.param_norm(), **spectral})
            if self.main:
                p.logger.log(p.last, 0, self.recorder.images(0, final=False) + spectral_images)

    def _train(self, p: _Progress) -> None:
        """The steps from ``p.start + 1`` until ``steps``, a divergence or a stop signal, with
        their checkpoints (and one at the stop)."""
        cfg = self.cfg
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=p.start, disable=not (cfg.progress and self.main),
                   unit="step", dynamic_ncols=True, desc=f"{cfg.method.name} {cfg.dataset.name}")
        for step in range(p.start + 1, cfg.steps + 1):
            p.step = step
            if self._stop_requested():   # between steps, never inside one
                p.stopped = True
                break
            if self._step(p, step):
                bar.set_postfix({k: f"{p.last[k]:.3g}" for k in ("loss_d", "loss_g", "modes_covered",
                                                                 "dist_equilibrium")
                                 if p.last.get(k) is not None}, refresh=False)
            bar.update(1)
            if p.reason is not None:
                break
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                self.recorder.save(step, p.wall(), p.logger.run_id)
                p.saved = step
        bar.close()
        if p.stopped and p.saved != p.done:
            self.recorder.save(p.done, p.wall(), p.logger.run_id)

    def _step(self, p: _Progress, step: int) -> bool:
        """One update, its divergence check, and its record when one is due; returns whether it
        recorded (``p.last``)."""
        cfg = self.cfg
        stats = self._update(step)
        p.done = step  # the last step whose update was applied
        p.reason = self.recorder.divergence(stats)
        if self.shard.world > 1 and ddp.any_true(p.reason is not None) and p.reason is None:
            p.reason = "diverged on another process"
        final = step == cfg.steps or p.reason is not None
        spectral, spectral_images = self._spectrum(step, p.reason)
        if not (final or step % cfg.log_every == 0 or spectral or step in self.recorder.image_steps
                or self.game.eval_due(step)):
            return False
        p.last = self.recorder.record(step, {**stats, **spectral}, final)
        if self.main:
            p.logger.log(p.last, step, self.recorder.images(step, final) + spectral_images)
        return True

    def _update(self, step: int) -> dict[str, Any]:
        """The rule's update of both players (timed), then the game's bookkeeping; returns the
        step's statistics with the parameter norm."""
        cfg = self.cfg
        t_step = time.perf_counter()
        # JARE App. C's flow cosines on the logged steps (gantrain.rules.flow)
        self.rule.diagnose = step % cfg.log_every == 0 or step == cfg.steps
        stats = self.rule.train_step(self.game, self.opt_d, self.opt_g, cfg.batch_size,
                                     self.data_rng)
        if torch.device(self.device).type == "cuda":   # time the work, not the launch
            torch.cuda.synchronize()
        self.recorder.timed(time.perf_counter() - t_step)
        if self.shard.world > 1:   # one set of batch-norm statistics on every process
            ddp.average_buffers([self.game.generator, self.game.discriminator])
        self.game.after_step(step)
        stats["param_norm"] = self.game.param_norm()
        return stats

    def _fail(self, p: _Progress, e: BaseException) -> None:
        """summary.json ``failed`` with the error's first line, and the logger closed."""
        err = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
        if self.shard.world > 1:
            err += f" (rank {self.shard.rank})"
        self.recorder.summary("failed", p.done, p.wall(), p.last, error=err)
        if p.logger is not None:
            p.logger.finish(exit_code=1)

    def _finish(self, p: _Progress) -> dict:
        """The run's end: preempted (raises Preempted), diverged or completed."""
        if p.stopped:
            names = "+".join(signal.Signals(s).name for s in self.signals.received)
            if self.main:
                log.warning("%s: stopped after step %d, checkpoint written; rerun in this run "
                            "directory to resume (exit status %d)", names, p.done, EXIT_PREEMPTED)
            self.recorder.summary("preempted", p.done, p.wall(), p.last, preempted_by=names)
            p.logger.finish(exit_code=EXIT_PREEMPTED, preempting=True)
            ddp.barrier()
            raise Preempted(self.signals.received, p.done)
        if p.reason is not None:
            if self.main:
                log.warning("run diverged at step %d: %s", p.step, p.reason)
            summary = self.recorder.summary("diverged", p.step, p.wall(), p.last, diverged_at=p.step,
                                    diverged_reason=p.reason)
        else:
            summary = self.recorder.summary("completed", p.step, p.wall(), p.last)
        p.logger.finish()
        ddp.barrier()   # rank 0's files are complete before any process goes on (e.g. resumes)
        return summary

    def _spectrum(self, step: int, reason: str | None) -> tuple[dict, list[Path]]:
        """The field's spectrum every ``analysis.every`` steps (not at a diverged point)."""
        if self.monitor is None or reason is not None or not self.monitor.due(step):
            return {}, []
        with writing(self.run_dir / "images"):
            return self.monitor(step, self.run_dir / "images")


def check_distributed(cfg: DictConfig, world: int) -> bool:
    """Refuse (one line) a world size that does not divide the global batch; return whether batch
    norm is synchronized (``distributed.sync_batchnorm``, default false: per-process batch norm,
    i.e. ghost batches of batch_size / W)."""
    dist_cfg = cfg.get("distributed") or {}
    sync = bool(dist_cfg.get("sync_batchnorm", False))
    if world == 1:
        return False
    parts = 2 if RULES[cfg.method.name].estimate(cfg.method) == "unbiased" else 1
    if cfg.batch_size % (parts * world):
        what = "each half-batch of " if parts == 2 else ""
        raise ConfigError(f"batch_size={cfg.batch_size} is invalid with {world} processes: "
                          f"batch_size is the global batch and {what}it must split evenly "
                          f"over the processes")
    return sync


def train(cfg: DictConfig, run_dir: Path) -> dict:
    return Trainer(cfg, run_dir).run()
