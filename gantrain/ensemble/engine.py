"""N runs of one game in one process: the members' parameters stacked, one step for all.

Each member is an ordinary run (``Member``): its own run directory, lock, ``config.yaml``,
``metrics.jsonl``, images, checkpoints and ``summary.json``, written by the single run's own
``gantrain.recorder.Recorder``, and its own generator of batches and latents seeded as the single
run seeds it. Only the update is shared, and it is the single run's own code: the rule's
``train_step`` on the members' games stacked (``gantrain.ensemble.stack.MemberGame``, the rule's
inner products taken per member), then the single run's optimizer over N members
(``gantrain.optim.stacked``). A member's trajectory is therefore the single run's, up to the
rounding of batched kernels.

A member that diverges is recorded ``diverged`` (its last good checkpoint kept) and frozen; a
finished or diverged member found on disk is left out; members resumed from different steps wait
until the ensemble reaches their step. SIGTERM/SIGUSR1 stop every member at the same step
boundary with a checkpoint, status ``preempted`` and exit code 75, as single runs do.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from gantrain.ensemble.coverage import check_member_config
from gantrain.ensemble.packing import check_compatible
from gantrain.ensemble.stack import MemberGame
from gantrain.errors import ConfigError
from gantrain.loop import Course, run_courses
from gantrain.optim.stacked import PlayerOptimizer
from gantrain.preemption import Preempted, StopSignals
from gantrain.rules import build_rule
from gantrain.run_parts import assemble, prepare, seeded_game
from gantrain.rundir import RunDirBusy, writing

log = logging.getLogger("gantrain")


class Member:
    """One run of an ensemble (its config passed ``check_member_config``): its parts built as a
    single run builds them (``gantrain.run_parts``: seeded game, optimizers, batch generator,
    ``Recorder``) and its ``gantrain.loop.Course``; the Ensemble steps it."""

    def __init__(self, cfg: DictConfig, run_dir: Path, checked=None):
        self.run_dir = Path(run_dir)
        setting = prepare(cfg, self.run_dir, checked)
        self.cfg, self.device, self.dtype = setting.checked, setting.device, setting.dtype
        self.game = seeded_game(setting)
        parts = assemble(self.run_dir, self.game, setting)
        self.opt_d, self.opt_g, self.data_rng = parts.opt_d, parts.opt_g, parts.data_rng
        self.recorder = parts.recorder
        self.lock = self.recorder.lock
        self.course = Course(self.cfg, self.recorder, self.game)

    def open(self) -> None:
        """Take the lock, then the course: config.yaml, resume or step 0 (wandb is off)."""
        with writing(self.lock.path):
            self.lock.acquire()
        self.course.open()


class Ensemble:
    """Members that differ only in seed, γ and η/lr, stepped together."""

    def __init__(self, cfgs: list[DictConfig], run_dirs: list[Path], checked=None):
        if not cfgs:
            raise ConfigError("an ensemble needs at least one member")
        for c in cfgs:
            check_member_config(c)
        check_compatible(cfgs)
        if any(c.logger.get("mode", "disabled") != "disabled" for c in cfgs):
            log.warning("wandb is off in an ensemble (one wandb run per process); every member "
                        "writes its local files as usual")
        checked = checked or [None] * len(cfgs)
        self.members = [Member(c, d, k) for c, d, k in zip(cfgs, run_dirs, checked)]
        self.signals = StopSignals()

    def run(self) -> list[dict]:
        """Train every member to its ``steps``; their summaries, in order."""
        opened = []
        try:
            with self.signals:
                for m in self.members:
                    try:
                        m.open()
                    except RunDirBusy as e:   # another process's run: left alone, the rest go on
                        log.error("%s", e)
                        continue
                    finally:   # a member whose opening failed is failed below with the rest
                        if m.lock.fd is not None:
                            opened.append(m)
                self._train([m for m in opened if m.course.result is None])
        except Preempted:
            raise
        except BaseException as e:
            for m in opened:
                m.course.fail(e)
            raise
        finally:
            for m in opened:
                m.lock.release()
        return [m.course.result for m in self.members]

    # --- the stacked state -------------------------------------------------------------------
    def _stack(self, live: list[Member]) -> None:
        """The live members as one ``MemberGame``, the rule built once with their γ [N] and run
        over members, and each player's optimizer with their learning rates and states."""
        first = live[0]
        self.game = MemberGame([m.game for m in live])
        gamma = torch.tensor([float(m.cfg.gamma) for m in live], dtype=first.dtype,
                             device=first.device)
        self.rule = build_rule(first.cfg.method.name, gamma, first.cfg.method)
        self.rule.members = True
        lrs = [float(m.cfg.optim.lr) for m in live]
        self.opt_d = PlayerOptimizer(first.cfg.optim, self.game.d_params(), lrs)
        self.opt_g = PlayerOptimizer(first.cfg.optim, self.game.g_params(), lrs)
        for i, m in enumerate(live):
            self.opt_d.core.load_member(i, m.opt_d.states(), self.opt_d.names)
            self.opt_g.core.load_member(i, m.opt_g.states(), self.opt_g.names)
            m.course.write_back = lambda with_optimizers, i=i, m=m: self._write_back(
                i, m, with_optimizers)

    def _write_back(self, i: int, m: Member, with_optimizers: bool) -> None:
        """Member ``i``'s stacked parameters (and optimizer state) into its own modules."""
        self.game.write_member(i)
        if with_optimizers:
            m.opt_d.load_states(self.opt_d.core.member_state(i, self.opt_d.names))
            m.opt_g.load_states(self.opt_g.core.member_state(i, self.opt_g.names))

    def step(self, live: list[Member], active: list[bool],
             diagnose: bool = False) -> dict[str, torch.Tensor]:
        """One update of the active members by the rule's own ``train_step``; every member's
        stats [N] (with param_norm, and with ``diagnose`` the flow-reversal cosines that single
        runs log at their log steps)."""
        mask = None if all(active) else torch.tensor(active, device=self.game.device)
        self.game.active = active
        self.opt_d.active = self.opt_g.active = mask
        self.rule.diagnose = diagnose
        stats = self.rule.train_step(self.game, self.opt_d, self.opt_g, live[0].cfg.batch_size,
                                     [m.data_rng for m in live])
        stats["param_norm"] = self.game.param_norm()
        return {k: v.detach() for k, v in stats.items()}

    # --- the loop ----------------------------------------------------------------------------
    def _train(self, live: list[Member]) -> None:
        """The members' courses through ``gantrain.loop`` (the single run's loop), stepped by
        ``step``."""
        if not live:
            return
        self._stack(live)

        def stepper(step: int, active: list, diagnose: bool) -> tuple[list, float]:
            t = time.perf_counter()
            stats = self.step(live, active, diagnose)
            dt = (time.perf_counter() - t) / sum(active)
            return [{k: v[i] for k, v in stats.items()} if a else None
                    for i, a in enumerate(active)], dt

        run_courses([m.course for m in live], stepper, lambda: self.signals.received,
                    lambda: bool(self.signals.received))
        log.info("ensemble of %d members done", len(live))


def train_ensemble(cfgs: list[DictConfig], run_dirs: list[Path], checked=None) -> list[dict]:
    """Train the runs ``cfgs`` (one run directory each) as one ensemble.

    Args:
        cfgs: the members' composed configs.
        run_dirs: their run directories.
        checked: each config's ``gantrain.config.validate`` result, when the caller has it.
    Returns:
        the members' summaries, in order.
    """
    return Ensemble(cfgs, [Path(d) for d in run_dirs], checked).run()
