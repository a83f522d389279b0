"""The training loop: one run from a composed config to a run directory.

A run directory holds ``config.yaml`` (the composed config), ``metrics.jsonl``, ``images/``,
``checkpoints/last.pt`` (and the ``keep_last - 1`` checkpoints before it) and ``summary.json``.
Rerunning in the same directory resumes; one process at a time holds it (``.lock``).

Faults: SIGTERM and SIGUSR1 (and submitit's preemption signal) stop the run at the next step
boundary with a checkpoint, ``summary.json`` status ``preempted`` and exit code EXIT_PREEMPTED; an
unreadable newest checkpoint falls back to the one before it; an OSError while writing ends the run
``failed`` in one line naming the file.
"""
from __future__ import annotations

import logging
import math
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from gantrain import distributed as ddp
from gantrain import engine
from gantrain.checkpoint import CheckpointIO, atomic_write_text, rng_state, set_rng_state
from gantrain.config import ConfigError, validate
from gantrain.errors import first_line
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.preemption import EXIT_PREEMPTED, Preempted, StopSignals, requeue_slurm_job
from gantrain.rules import build_rule
from gantrain.rundir import FINISHED, RunDirBusy, RunDirLock, check_run_dir, read_summary, writing
from gantrain.tracking import MetricsFile, WandbLogger, to_json_value, write_json

log = logging.getLogger("gantrain")


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
        sync_bn = _check_distributed(cfg, self.shard.world)

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
        self.step_time_s, self.steps_timed = 0.0, 0
        self.metrics = MetricsFile(self.run_dir / "metrics.jsonl", enabled=self.main)
        self.lock = RunDirLock(self.run_dir)
        self.signals = StopSignals()
        self.image_steps = set(int(s) for s in cfg.eval.image_steps)
        self.monitor = None
        if cfg.analysis.every > 0 and self.main:
            from gantrain.analysis.monitor import SpectrumMonitor
            self.monitor = SpectrumMonitor(cfg, self.game)

    # --- pieces ------------------------------------------------------------------------------
    def _restore(self) -> tuple[int, float, str | None, bool]:
        """Resume from the newest readable checkpoint if there is one; returns (step, wall time,
        wandb id, resumed). metrics.jsonl loses the records past that step."""
        extra = self.ckpt.load_latest(map_location=self.device) if self.cfg.resume else None
        ddp.barrier()   # every process has read the checkpoint before rank 0 changes any file
        if extra is None:
            if self.main:
                with writing(self.run_dir):
                    self.metrics.reset()
                    self.ckpt.clear()   # another trajectory's checkpoints are no fallback
            return 0, 0.0, None, False
        set_rng_state(extra["rng"], {"data": self.data_rng})
        step = int(extra["step"])
        if self.main:
            with writing(self.metrics.path):
                self.metrics.truncate_after(step)
                self.ckpt.set_aside_unreadable()
                self.ckpt.remove_temporary()
        log.info("resuming %s from step %d", self.run_dir, step)
        return step, float(extra["wall_time_s"]), extra.get("wandb_id"), True

    def _save(self, step: int, wall: float, wandb_id: str | None) -> None:
        if not self.main:
            return
        with writing(self.ckpt.path()):
            self.ckpt.save(step=step, wall_time_s=wall, wandb_id=wandb_id,
                           rng=rng_state({"data": self.data_rng}))

    def _record(self, step: int, stats: dict[str, Any], final: bool = False) -> dict[str, Any]:
        record = {"step": step, **{k: to_json_value(v) for k, v in stats.items()}}
        if final or self.game.eval_due(step):   # every process: evaluation is sharded
            evaluated = self.game.evaluate(step)
        else:
            evaluated = {}
        if not self.main:
            return record
        record.update({k: to_json_value(v) for k, v in self.game.eval_metrics().items()})
        record.update({k: to_json_value(v) for k, v in evaluated.items()})
        with writing(self.metrics.path):
            self.metrics.append(record)
        return record

    def _divergence(self, stats: dict[str, torch.Tensor]) -> str | None:
        for key in ("loss_d", "loss_g"):
            if key in stats and not math.isfinite(float(stats[key])):
                return f"{key} is {float(stats[key])}"
        pnorm = float(stats["param_norm"])
        if not math.isfinite(pnorm):
            return f"parameter norm is {pnorm}"
        if pnorm > self.cfg.divergence.max_param_norm:
            return f"parameter norm {pnorm:.3g} > divergence.max_param_norm={self.cfg.divergence.max_param_norm:g}"
        return None

    def _summary(self, status: str, step: int, wall: float, final: dict, **extra) -> dict:
        summary = to_json_value({
            "status": status, "steps_done": step, "diverged_at": None,
            "wall_time_s": round(wall, 3), "method": self.cfg.method.name,
            # mean wall time of one update (rule.train_step) in this process's session
            "step_time_ms": (round(1e3 * self.step_time_s / self.steps_timed, 4)
                             if self.steps_timed else None),
            "gamma": self.cfg.gamma, "eta": self.cfg.optim.lr, "seed": self.cfg.seed,
            "metrics": {k: v for k, v in final.items() if k != "step"}, **extra})
        if self.shard.world > 1:
            summary["world_size"] = self.shard.world
        if self.main:
            path = self.run_dir / "summary.json"
            try:
                write_json(path, summary)
            except OSError as e:   # the run's own error (if any) still reaches the user
                print(f"gantrain: error: could not write {e.filename or path}: "
                      f"{e.strerror or first_line(e)}; this run's status ({status} at step "
                      f"{step}) is not recorded", file=sys.stderr, flush=True)
        return summary

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
            self._hand_over(stop)
            raise
        finally:
            self.lock.release()

    def _hand_over(self, stop: Preempted) -> None:
        """After the checkpoint: the handlers gantrain deferred (submitit's checkpoints the job and
        requeues it within max_num_timeout, then exits), else `scontrol requeue` on SIGUSR1."""
        for sig in stop.signals:
            previous = self.signals.previous.get(sig)
            if callable(previous):
                previous(sig, None)
        job = os.environ.get("SLURM_JOB_ID")
        if (self.main and signal.SIGUSR1 in stop.signals and self.cfg.requeue and job
                and not callable(self.signals.previous.get(signal.SIGUSR1))):
            requeue_slurm_job(job)

    def _run(self) -> dict:
        cfg = self.cfg
        prev = read_summary(self.run_dir)   # under the lock: another process may just have ended
        if prev and prev.get("status") in FINISHED and (prev["status"] == "diverged"
                                                        or prev.get("steps_done", 0) >= cfg.steps):
            log.info("%s already finished (%s at step %s); nothing to do",
                     self.run_dir, prev["status"], prev.get("steps_done"))
            return prev
        done, last, logger, wall_before = 0, {}, None, 0.0
        t0 = time.perf_counter()
        wall = lambda: wall_before + time.perf_counter() - t0  # noqa: E731
        stopped = False
        with self.signals:
            try:
                if self.main:
                    with writing(self.run_dir / "config.yaml"):
                        atomic_write_text(self.run_dir / "config.yaml",
                                          OmegaConf.to_yaml(cfg, resolve=True))
                start, wall_before, wandb_id, resumed = self._restore()
                t0 = time.perf_counter()
                step = done = saved = start
                logger_cfg = cfg.logger if self.main else OmegaConf.create({"mode": "disabled"})
                logger = WandbLogger(logger_cfg, self.run_dir, self.config,
                                     name=self.run_dir.name, resume_id=wandb_id)
                # A run resumed at its last step logs nothing new: its final values are on disk.
                last = (self.metrics.read() or [{}])[-1] if resumed else {}
                if not resumed:
                    saved = None
                    spectral, spectral_images = self._spectrum(0, None)
                    last = self._record(0, {"param_norm": self.game.param_norm(), **spectral})
                    if self.main:
                        logger.log(last, 0, self._images(0, final=False) + spectral_images)
                from tqdm import tqdm
                bar = tqdm(total=cfg.steps, initial=start, disable=not (cfg.progress and self.main),
                           unit="step", dynamic_ncols=True,
                           desc=f"{cfg.method.name} {cfg.dataset.name}")
                reason = None
                for step in range(start + 1, cfg.steps + 1):
                    if self._stop_requested():   # between steps, never inside one
                        stopped = True
                        break
                    t_step = time.perf_counter()
                    # JARE App. C's flow cosines on the logged steps (gantrain.rules.flow)
                    self.rule.diagnose = step % cfg.log_every == 0 or step == cfg.steps
                    stats = self.rule.train_step(self.game, self.opt_d, self.opt_g, cfg.batch_size,
                                                 self.data_rng)
                    if torch.device(self.device).type == "cuda":   # time the work, not the launch
                        torch.cuda.synchronize()
                    self.step_time_s += time.perf_counter() - t_step
                    self.steps_timed += 1
                    done = step  # the last step whose update was applied
                    if self.shard.world > 1:   # one set of batch-norm statistics on every process
                        ddp.average_buffers([self.game.generator, self.game.discriminator])
                    self.game.after_step(step)
                    stats["param_norm"] = self.game.param_norm()
                    reason = self._divergence(stats)
                    if self.shard.world > 1 and ddp.any_true(reason is not None) and reason is None:
                        reason = "diverged on another process"
                    final = step == cfg.steps or reason is not None
                    spectral, spectral_images = self._spectrum(step, reason)
                    if (final or step % cfg.log_every == 0 or spectral or step in self.image_steps
                            or self.game.eval_due(step)):
                        last = self._record(step, {**stats, **spectral}, final)
                        if self.main:
                            logger.log(last, step, self._images(step, final) + spectral_images)
                        bar.set_postfix({k: f"{last[k]:.3g}" for k in ("loss_d", "loss_g",
                                                                       "modes_covered",
                                                                       "dist_equilibrium")
                                         if last.get(k) is not None}, refresh=False)
                    bar.update(1)
                    if reason is not None:
                        break
                    if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                        self._save(step, wall(), logger.run_id)
                        saved = step
                bar.close()
                if stopped and saved != done:
                    self._save(done, wall(), logger.run_id)
            except BaseException as e:
                err = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
                if self.shard.world > 1:
                    err += f" (rank {self.shard.rank})"
                self._summary("failed", done, wall(), last, error=err)
                if logger is not None:
                    logger.finish(exit_code=1)
                raise
        if stopped:
            names = [signal.Signals(s).name for s in self.signals.received]
            if self.main:
                log.warning("%s: stopped after step %d, checkpoint written; rerun in this run "
                            "directory to resume (exit status %d)", "+".join(names), done,
                            EXIT_PREEMPTED)
            self._summary("preempted", done, wall(), last, preempted_by="+".join(names))
            logger.finish(exit_code=EXIT_PREEMPTED, preempting=True)
            ddp.barrier()
            raise Preempted(self.signals.received, done)
        if reason is not None:
            if self.main:
                log.warning("run diverged at step %d: %s", step, reason)
            summary = self._summary("diverged", step, wall(), last, diverged_at=step,
                                    diverged_reason=reason)
        else:
            summary = self._summary("completed", step, wall(), last)
        logger.finish()
        ddp.barrier()   # rank 0's files are complete before any process goes on (e.g. resumes)
        return summary

    def _spectrum(self, step: int, reason: str | None) -> tuple[dict, list[Path]]:
        """The field's spectrum every ``analysis.every`` steps (not at a diverged point)."""
        if self.monitor is None or reason is not None or not self.monitor.due(step):
            return {}, []
        with writing(self.run_dir / "images"):
            return self.monitor(step, self.run_dir / "images")

    def _images(self, step: int, final: bool) -> list[Path]:
        if step in self.image_steps or final or self.game.eval_due(step):
            with writing(self.run_dir / "images"):
                return self.game.save_images(step, self.run_dir)
        return []


def _check_distributed(cfg: DictConfig, world: int) -> bool:
    """Refuse (one line) a world size that does not divide the global batch; return whether batch
    norm is synchronized (``distributed.sync_batchnorm``, default false: per-process batch norm,
    i.e. ghost batches of batch_size / W)."""
    dist_cfg = cfg.get("distributed") or {}
    sync = bool(dist_cfg.get("sync_batchnorm", False))
    if world == 1:
        return False
    parts = 2 if cfg.method.get("regularizer_estimate", "same_batch") == "unbiased" else 1
    if cfg.batch_size % (parts * world):
        what = "each half-batch of " if parts == 2 else ""
        raise ConfigError(f"batch_size={cfg.batch_size} is invalid with {world} processes: "
                          f"batch_size is the global batch and {what}it must split evenly "
                          f"over the processes")
    return sync


def train(cfg: DictConfig, run_dir: Path) -> dict:
    return Trainer(cfg, run_dir).run()
