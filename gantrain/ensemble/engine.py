"""N runs of one game in one process: the members' parameters stacked, one ``vmap``ped step.

Each member is an ordinary run (``Member``, a ``gantrain.train.Trainer``): its own run directory,
lock, ``config.yaml``, ``metrics.jsonl``, images, checkpoints and ``summary.json``, written by the
single run's own ``gantrain.recorder.Recorder``, and its own generator of batches and latents
seeded as the single run seeds it. Only the update is shared: ``torch.func.vmap`` of the rule's
one-member direction (``gantrain.ensemble.functional``) over the stacked parameters, then the
stacked optimizers (``gantrain.optim.stacked``: the single run's own optimizer with N members). A member's
trajectory is therefore the single run's, up to the rounding of batched kernels.

A member that diverges is recorded ``diverged`` (its last good checkpoint kept) and frozen; a
finished or diverged member found on disk is left out; members resumed from different steps wait
until the ensemble reaches their step. SIGTERM/SIGUSR1 stop every member at the same step
boundary with a checkpoint, status ``preempted`` and exit code 75, as single runs do.
"""
from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch.func import vmap

from gantrain.ensemble.functional import Players, build_direction, check_covered, check_estimate, flow_cosines
from gantrain.ensemble.packing import check_compatible
from gantrain.errors import ConfigError
from gantrain.optim.stacked import StackedOptimizer
from gantrain.preemption import EXIT_PREEMPTED, Preempted, StopSignals
from gantrain.rules import RULES
from gantrain.rundir import RunDirBusy, writing
from gantrain.train import Trainer

log = logging.getLogger("gantrain")

GAMES = ("mog", "gaussian", "dirac")
ARCHS = ("mlp", "linear", "fullrank")


def check_member_config(cfg: DictConfig) -> None:
    """One line when a run cannot be an ensemble member."""
    if cfg.dataset.name not in GAMES:
        raise ConfigError(f"dataset={cfg.dataset.name} is invalid with launcher=ensemble: "
                          f"allowed: {', '.join(GAMES)}")
    if cfg.arch.name not in ARCHS:
        raise ConfigError(f"arch={cfg.arch.name} is invalid with launcher=ensemble: "
                          f"allowed: {', '.join(ARCHS)}")
    check_covered(cfg.method.name)
    check_estimate(cfg.method)   # the launcher runs such a job on its own instead of packing it
    if cfg.analysis.every:
        raise ConfigError(f"analysis.every={cfg.analysis.every} is invalid with launcher=ensemble: "
                          "spectra during training run in single runs only; allowed: 0")


class Member(Trainer):
    """One run of an ensemble: a Trainer's players, optimizers and ``Recorder`` (through its
    public methods); the Ensemble steps it."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        check_member_config(cfg)
        super().__init__(cfg, run_dir)
        self.result: dict | None = None       # the summary once the member has ended
        self.start = self.done = self.saved = 0
        self.wall_before, self.last = 0.0, {}
        self.reason: str | None = None

    def open(self) -> None:
        """Take the lock, write config.yaml, restore the newest checkpoint (or log step 0)."""
        with writing(self.lock.path):
            self.lock.acquire()
        prev = self.recorder.finished_before()
        if prev is not None:
            self.result = prev
            return
        self.recorder.write_config()
        self.start, self.wall_before, _, resumed = self.recorder.restore()
        self.done = self.saved = self.start
        if resumed:
            self.last = (self.recorder.metrics.read() or [{}])[-1]
        else:
            self.last = self.recorder.record(0, {"param_norm": self.game.param_norm()})
            self.recorder.images(0, final=False)

    def params(self) -> tuple[list[str], list[str]]:
        """The names of D's and G's trained parameters, in the order of d_params()/g_params()."""
        names = lambda m: [n for n, p in m.named_parameters() if p.requires_grad]  # noqa: E731
        return names(self.game.discriminator), names(self.game.generator)

    def after(self, step: int, stats: dict, dt: float, wall: float, write_back) -> None:
        """Bookkeeping of one step this member took: divergence, metrics, checkpoint, summary."""
        self.recorder.timed(dt)
        self.done = step
        self.reason = self.recorder.divergence(stats)
        final = step == self.cfg.steps or self.reason is not None
        if final or step % self.cfg.log_every == 0 or step in self.recorder.image_steps \
                or self.game.eval_due(step):
            write_back(with_optimizers=False)
            self.last = self.recorder.record(step, stats, final)
            self.recorder.images(step, final)
        if self.reason is not None:
            log.warning("%s diverged at step %d: %s", self.run_dir, step, self.reason)
            self.result = self.summary("diverged", wall, diverged_at=step,
                                       diverged_reason=self.reason)
            return
        if step % self.cfg.checkpoint_every == 0 or step == self.cfg.steps:
            self.save(wall, write_back)
        if step == self.cfg.steps:
            self.result = self.summary("completed", wall)

    def save(self, wall: float, write_back) -> None:
        write_back(with_optimizers=True)
        self.recorder.save(self.done, wall, None)
        self.saved = self.done

    def summary(self, status: str, wall: float, **extra) -> dict:
        return self.recorder.summary(status, self.done, wall, self.last, **extra)


class Ensemble:
    """Members that differ only in seed, γ and η/lr, stepped together."""

    def __init__(self, cfgs: list[DictConfig], run_dirs: list[Path]):
        if not cfgs:
            raise ConfigError("an ensemble needs at least one member")
        for c in cfgs:
            check_member_config(c)
        check_compatible(cfgs)
        if any(c.logger.get("mode", "disabled") != "disabled" for c in cfgs):
            log.warning("wandb is off in an ensemble (one wandb run per process); every member "
                        "writes its local files as usual")
        self.members = [Member(c, d) for c, d in zip(cfgs, run_dirs)]
        self.signals = StopSignals()

    def run(self) -> list[dict]:
        """Train every member to its ``steps``; their summaries, in order."""
        opened = []
        try:
            for m in self.members:
                try:
                    m.open()
                except RunDirBusy as e:   # another process's run: left alone, the rest go on
                    log.error("%s", e)
                    continue
                opened.append(m)
            self._train([m for m in opened if m.result is None])
        except Preempted:
            raise
        except BaseException as e:
            err = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
            for m in opened:
                if m.result is None and m.lock.fd is not None:
                    m.result = m.summary("failed", m.wall_before, error=err)
            raise
        finally:
            for m in opened:
                m.lock.release()
        return [m.result for m in self.members]

    # --- the stacked state -------------------------------------------------------------------
    def _stack(self, live: list[Member]) -> None:
        first = live[0]
        self.d_names, self.g_names = first.params()
        d_of = [dict(m.game.discriminator.named_parameters()) for m in live]
        g_of = [dict(m.game.generator.named_parameters()) for m in live]
        self.d = {k: torch.stack([p[k].detach() for p in d_of]) for k in self.d_names}
        self.g = {k: torch.stack([p[k].detach() for p in g_of]) for k in self.g_names}
        lrs = [float(m.cfg.optim.lr) for m in live]
        self.opt_d = StackedOptimizer(first.cfg.optim, lrs, self.d)
        self.opt_g = StackedOptimizer(first.cfg.optim, lrs, self.g)
        for i, m in enumerate(live):
            self.opt_d.load_member(i, m.opt_d.states(), self.d_names)
            self.opt_g.load_member(i, m.opt_g.states(), self.g_names)
        self.gamma = torch.tensor([float(m.cfg.gamma) for m in live], dtype=first.dtype,
                                  device=first.device)
        players = Players(first.game.generator, first.game.discriminator, first.cfg.loss.name)
        self.direction = build_direction(first.cfg.method, players)
        self.cosines = vmap(flow_cosines(players))
        self.halves = RULES[first.cfg.method.name].estimate(first.cfg.method) == "unbiased"

    def _write_back(self, i: int, m: Member, with_optimizers: bool) -> None:
        """Member ``i``'s stacked parameters (and optimizer state) into its own modules."""
        with torch.no_grad():
            for p, k in zip(m.game.d_params(), self.d_names):
                p.copy_(self.d[k][i])
            for p, k in zip(m.game.g_params(), self.g_names):
                p.copy_(self.g[k][i])
        if with_optimizers:
            m.opt_d.load_states(self.opt_d.member_state(i, self.d_names))
            m.opt_g.load_states(self.opt_g.member_state(i, self.g_names))

    def _batches(self, live: list[Member], active: list[bool]):
        """Each active member's batch from its own generator, as its single run draws it."""
        cfg = live[0].cfg
        parts = 2 if self.halves else 1
        drawn = {i: m.game.sample_batch(cfg.batch_size, m.data_rng, parts)
                 for i, (m, a) in enumerate(zip(live, active)) if a}
        x0, z0 = next(iter(drawn.values()))
        xs = [drawn[i][0] if i in drawn else torch.zeros_like(x0) for i in range(len(live))]
        zs = [drawn[i][1] if i in drawn else torch.zeros_like(z0) for i in range(len(live))]
        return torch.stack(xs), torch.stack(zs)

    def step(self, live: list[Member], active: list[bool],
             diagnose: bool = False) -> dict[str, torch.Tensor]:
        """One update of the active members; every member's stats [N] (with param_norm, and
        with ``diagnose`` the flow-reversal cosines that single runs log at their log steps)."""
        mask = torch.tensor(active, device=self.gamma.device)
        x, z = self._batches(live, active)
        u_d, u_g, stats = self.direction(self.d, self.g, x, z, self.gamma)
        if diagnose:   # before the step: the plain gradients at the same point
            stats.update(self.cosines(self.d, self.g, x, z, u_d, u_g))
        self.d = self.opt_d.step(self.d, u_d, mask)
        self.g = self.opt_g.step(self.g, u_g, mask)
        sq = [p.square().flatten(1).sum(1) for p in (*self.g.values(), *self.d.values())]
        stats["param_norm"] = sum(sq).sqrt()
        return {k: v.detach() for k, v in stats.items()}

    # --- the loop ----------------------------------------------------------------------------
    def _train(self, live: list[Member]) -> None:
        if not live:
            return
        self._stack(live)
        t0 = time.perf_counter()
        step = min(m.start for m in live)
        with self.signals:
            while True:
                step += 1
                active = [m.result is None and m.start < step <= m.cfg.steps for m in live]
                if not any(active):
                    break
                if self.signals.received:   # between steps, never inside one
                    self._preempt(live, t0)
                t = time.perf_counter()
                cfg = live[0].cfg   # log_every and steps are shared (packing)
                stats = self.step(live, active, step % cfg.log_every == 0 or step == cfg.steps)
                dt = (time.perf_counter() - t) / sum(active)
                for i, m in enumerate(live):
                    if active[i]:
                        wall = m.wall_before + time.perf_counter() - t0
                        m.after(step, {k: v[i] for k, v in stats.items()}, dt, wall,
                                lambda with_optimizers, i=i, m=m: self._write_back(
                                    i, m, with_optimizers))
        log.info("ensemble of %d members done at step %d", len(live), step - 1)

    def _preempt(self, live: list[Member], t0: float) -> None:
        names = "+".join(signal.Signals(s).name for s in self.signals.received)
        for i, m in enumerate(live):
            if m.result is not None:
                continue
            wall = m.wall_before + time.perf_counter() - t0
            if m.saved != m.done:
                m.save(wall, lambda with_optimizers, i=i, m=m: self._write_back(i, m, with_optimizers))
            m.result = m.summary("preempted", wall, preempted_by=names)
        log.warning("%s: ensemble stopped, checkpoints written; rerun to resume (exit status %d)",
                    names, EXIT_PREEMPTED)
        raise Preempted(self.signals.received, min(m.done for m in live))


def train_ensemble(cfgs: list[DictConfig], run_dirs: list[Path]) -> list[dict]:
    """Train the runs ``cfgs`` (one run directory each) as one ensemble; their summaries."""
    return Ensemble(cfgs, [Path(d) for d in run_dirs]).run()
