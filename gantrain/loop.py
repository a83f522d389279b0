"""The run loop, written once: runs stepped together by one stepper, each with its own ``Course``.

A single run is one course stepped by the rule on its own game (``gantrain.train.Trainer``); an
ensemble is N courses stepped by the rule on the members' stacked game
(``gantrain.ensemble.engine``). Either way the loop below takes the steps, stops at a signal
between two steps (every course checkpointed, ``summary.json`` ``preempted``, ``Preempted``
raised) and, on any other error, ends every open course ``failed`` before re-raising. A course
knows when its run records, checkpoints, diverges and ends (``gantrain.recorder.Recorder`` writes
the files); courses resumed from different steps wait until the loop reaches theirs.
"""
from __future__ import annotations

import logging
import signal
import time
from typing import Callable, Sequence

from gantrain import distributed as ddp
from gantrain.distributed import SINGLE, Shard
from gantrain.preemption import EXIT_PREEMPTED, Preempted

log = logging.getLogger("gantrain")

# (step, active, diagnose) -> (each course's stats, None where inactive; seconds per active run)
Stepper = Callable[[int, list, bool], tuple[list, float]]


class Course:
    """Where one run stands, and what it records after each of its steps.

    Args:
        cfg: the run's config.
        recorder: its ``Recorder``.
        game: its game (its own modules: evaluation, images, parameter norm at step 0).
        write_back: puts the run's current point (and, called with True, its optimizer state)
            into its own modules before a record or checkpoint; None: the stepper steps them.
        shard: this process's place under torch.distributed.
        extras: (step, divergence reason) -> (stats, image paths) to add at a step (the spectrum
            monitor); None: none.
    """

    def __init__(self, cfg, recorder, game, write_back: Callable | None = None,
                 shard: Shard = SINGLE, extras: Callable | None = None):
        self.cfg, self.recorder, self.game, self.write_back = cfg, recorder, game, write_back
        self.shard, self.main, self.extras = shard, shard.rank == 0, extras
        self.result: dict | None = None       # the summary once the run has ended
        self.start = self.done = 0
        self.saved: int | None = None         # the last step checkpointed in this session
        self.wall_before, self.t0 = 0.0, time.perf_counter()
        self.last: dict = {}
        self.logger = None

    def wall(self) -> float:
        """The run's wall time: its checkpoint's plus this session's."""
        return self.wall_before + time.perf_counter() - self.t0

    def _extras(self, step: int, reason: str | None) -> tuple[dict, list]:
        return self.extras(step, reason) if self.extras is not None else ({}, [])

    def _log(self, step: int, final: bool, images: list) -> None:
        if self.main:
            images = self.recorder.images(step, final) + images
            if self.logger is not None:
                self.logger.log(self.last, step, images)

    def open(self, logger: Callable | None = None) -> None:
        """Take up the run (its lock held): a run that already ended keeps its summary
        (``result``); else write config.yaml, resume from the newest checkpoint or record step 0.

        Args:
            logger: wandb id (or None) -> the run's ``WandbLogger``; None: no logger.
        """
        prev = self.recorder.finished_before()
        if prev is not None:
            self.result = prev
            return
        self.recorder.write_config()
        self.start, self.wall_before, wandb_id, resumed = self.recorder.restore()
        self.t0 = time.perf_counter()
        self.done = self.start
        self.saved = self.start if resumed else None
        self.logger = logger(wandb_id) if logger is not None else None
        # A run resumed at its last step logs nothing new: its final values are on disk.
        if resumed:
            self.last = (self.recorder.metrics.read() or [{}])[-1]
            return
        spectral, images = self._extras(0, None)
        self.last = self.recorder.record(0, {"param_norm": self.game.param_norm(), **spectral})
        self._log(0, False, images)

    def after(self, step: int, stats: dict, dt: float) -> bool:
        """The bookkeeping of one step the run took: divergence, record, checkpoint, its end.

        Returns:
            whether the step was recorded (``last``).
        """
        self.recorder.timed(dt)
        self.done = step
        reason = self.recorder.divergence(stats)
        if self.shard.world > 1 and ddp.any_true(reason is not None) and reason is None:
            reason = "diverged on another process"
        final = step == self.cfg.steps or reason is not None
        spectral, images = self._extras(step, reason)
        recorded = bool(spectral) or self.recorder.due(step, final)
        if recorded:
            if self.write_back is not None:
                self.write_back(False)
            self.last = self.recorder.record(step, {**stats, **spectral}, final)
            self._log(step, final, images)
        if reason is not None:
            if self.main:
                log.warning("%s diverged at step %d: %s", self.recorder.run_dir, step, reason)
            self.end("diverged", diverged_at=step, diverged_reason=reason)
            return recorded
        if step % self.cfg.checkpoint_every == 0 or step == self.cfg.steps:
            self.save()
        if step == self.cfg.steps:
            self.end("completed")
        return recorded

    def save(self) -> None:
        """A checkpoint at the last step taken."""
        if self.write_back is not None:
            self.write_back(True)
        self.recorder.save(self.done, self.wall(), self.logger.run_id if self.logger else None)
        self.saved = self.done

    def end(self, status: str, exit_code: int = 0, **extra) -> None:
        """``summary.json`` with ``status`` (the run's ``result``), and the logger closed."""
        self.result = self.recorder.summary(status, self.done, self.wall(), self.last, **extra)
        if self.logger is not None:
            self.logger.finish(exit_code=exit_code, preempting=status == "preempted")

    def fail(self, error: BaseException) -> None:
        """End an open run ``failed`` with the error's first line (this process's rank added)."""
        if self.result is not None:
            return
        err = (f"{type(error).__name__}: {error}".splitlines()[0] if str(error)
               else type(error).__name__)
        if self.shard.world > 1:
            err += f" (rank {self.shard.rank})"
        self.end("failed", exit_code=1, error=err)


def run_courses(courses: Sequence[Course], stepper: Stepper, received: Callable[[], list],
                stop_requested: Callable[[], bool], on_step: Callable | None = None) -> None:
    """Step the open courses until each has ended, a stop signal comes, or an error.

    Args:
        courses: the runs, opened (those with a ``result`` already are left alone).
        stepper: one update of the active runs (``Stepper``).
        received: the stop signals received so far.
        stop_requested: whether to stop now (on any process).
        on_step: called with (step, recorded) after every step of a single course.
    Raises:
        Preempted: a stop signal came; every open course is checkpointed and ``preempted``.
    """
    live = [c for c in courses if c.result is None]
    try:
        _steps(live, stepper, received, stop_requested, on_step)
    except Preempted:
        raise
    except BaseException as e:
        for c in live:
            c.fail(e)
        raise
    for c in live:   # resumed at its last step, or never reached: it ends where it stands
        if c.result is None:
            c.end("completed")


def _steps(live: list[Course], stepper: Stepper, received, stop_requested, on_step) -> None:
    if not live:
        return
    step = min(c.start for c in live)
    while True:
        step += 1
        active = [c.result is None and c.start < step <= c.cfg.steps for c in live]
        if not any(active):
            return
        if stop_requested():   # between steps, never inside one
            _preempt(live, received())
        cfg = live[0].cfg   # log_every and steps are shared by an ensemble's members
        stats, dt = stepper(step, active, step % cfg.log_every == 0 or step == cfg.steps)
        for c, s, a in zip(live, stats, active):
            if a:
                recorded = c.after(step, s, dt)
                if on_step is not None and len(live) == 1:
                    on_step(step, recorded)


def _preempt(live: list[Course], signals: list) -> None:
    names = "+".join(signal.Signals(s).name for s in signals)
    for c in live:
        if c.result is not None:
            continue
        if c.saved != c.done:
            c.save()
        c.end("preempted", exit_code=EXIT_PREEMPTED, preempted_by=names)
    if live[0].main:
        if len(live) == 1:
            log.warning("%s: stopped after step %d, checkpoint written; rerun in this run "
                        "directory to resume (exit status %d)", names, live[0].done, EXIT_PREEMPTED)
        else:
            log.warning("%s: ensemble stopped, checkpoints written; rerun to resume (exit status "
                        "%d)", names, EXIT_PREEMPTED)
    ddp.barrier()
    raise Preempted(signals, min(c.done for c in live))
