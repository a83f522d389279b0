"""Stopping a run on a signal and coming back: SIGTERM/SIGUSR1 (and submitit's preemption signal)
stop the run at a step boundary with a checkpoint and exit EXIT_PREEMPTED; on SIGUSR1 in a SLURM
job the job requeues itself. Torch-free."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from typing import Any

from gantrain.errors import first_line

log = logging.getLogger("gantrain")

# Exit status of a run stopped by SIGTERM/SIGUSR1 after writing its checkpoint: sysexits.h's
# EX_TEMPFAIL ("temporary failure, try again later"). Rerunning in the same run directory resumes
# it exactly. gantrain requeues a SLURM job itself on SIGUSR1 (`scontrol requeue`, see
# `requeue`); a cluster can also requeue on this status with slurm.conf's RequeueExit=75.
EXIT_PREEMPTED = 75


class Preempted(SystemExit):
    """The run stopped on a signal with a checkpoint at ``step``; exits with EXIT_PREEMPTED unless
    caught (a SystemExit, so that nothing on the way mistakes it for a failure)."""

    def __init__(self, signals: list[int], step: int):
        super().__init__(EXIT_PREEMPTED)
        self.signals, self.step = list(signals), step


def stop_signals() -> list[int]:
    """SIGTERM (SLURM's preemption and time limit, `kill`), SIGUSR1 (`sbatch --signal=USR1@T`) and,
    in a submitit job, submitit's own preemption signal (SUBMITIT_PREEMPT_SIGNAL, default USR2)."""
    sigs = [signal.SIGTERM, signal.SIGUSR1]
    if os.environ.get("SUBMITIT_EXECUTOR"):
        extra = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
        if extra is not None and extra not in sigs:
            sigs.append(extra)
    return sigs


# A stop signal that comes while gantrain starts (its imports take seconds, and SLURM may signal a
# requeued job within seconds of its start) would kill the process with no checkpoint and no
# requeue. From `catch_early` on it is recorded instead, and the run stops at its first step
# boundary as if it had come during the run; after the run it is recorded again (SLURM's
# time-limit signal may come while the finished run's process exits, which must still exit 0).
_EARLY: list[int] = []
_CAUGHT: set[int] = set()   # signals catch_early took over: recorded again after each run


def _record_early(signum, frame) -> None:
    if signum not in _EARLY:
        _EARLY.append(signum)


def catch_early() -> None:
    """Record SIGTERM and SIGUSR1 (where the process would die of them) until a run's
    ``StopSignals`` takes them over."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _record_early)


class StopSignals:
    """While active, the stop signals only record that they came; the training loop stops at the
    next step boundary. The handlers they replace (e.g. submitit's, which checkpoints the job
    and requeues it) are kept in ``previous`` and called after gantrain's checkpoint."""

    def __init__(self):
        self.received: list[int] = []
        self.previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if signum not in self.received:
            self.received.append(signum)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self   # Python handles signals in the main thread only
        for sig in stop_signals():
            old = signal.getsignal(sig)
            if old is signal.SIG_IGN:
                continue
            if old is _record_early:
                _CAUGHT.add(sig)
            self.previous[sig] = signal.SIG_DFL if old is _record_early else old
            signal.signal(sig, self._handle)
        self.received += [s for s in _EARLY if s in self.previous]   # came before the run
        _EARLY.clear()
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self.previous.items():
            if old is signal.SIG_DFL and sig in _CAUGHT:
                old = _record_early   # a signal after the run must not kill the finished process
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def requeue_slurm_job(job_id: str) -> bool:
    """`scontrol requeue JOB` (the job must be requeueable: `sbatch --requeue`); a one-line
    warning and False when that fails."""
    try:
        res = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True,
                             timeout=60)
        why = (res.stderr or res.stdout).strip().splitlines()[:1] if res.returncode else None
    except (OSError, subprocess.SubprocessError) as e:
        why = [first_line(e)]
    if why is not None:
        log.warning("could not requeue SLURM job %s (%s); rerun it to resume",
                    job_id, why[0] if why else "scontrol failed")
        return False
    log.warning("requeued SLURM job %s", job_id)
    return True


def hand_over(stop: Preempted, signals: StopSignals, requeue: bool) -> None:
    """After the run's checkpoint: call the handlers gantrain deferred (submitit's checkpoints the
    job and requeues it within max_num_timeout, then exits), else `scontrol requeue` on SIGUSR1.

    Args:
        stop: the run's stop, with the signals that came.
        signals: the run's StopSignals, with the handlers they replaced.
        requeue: whether this process may requeue the SLURM job (``requeue``, on rank 0).
    """
    for sig in stop.signals:
        previous = signals.previous.get(sig)
        if callable(previous):
            previous(sig, None)
    job = os.environ.get("SLURM_JOB_ID")
    if (requeue and signal.SIGUSR1 in stop.signals and job
            and not callable(signals.previous.get(signal.SIGUSR1))):
        requeue_slurm_job(job)
