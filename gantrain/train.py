"""The training loop: one run from a composed config to a run directory.

A run directory holds ``config.yaml`` (the composed config), ``metrics.jsonl``, ``images/``,
``checkpoints/last.pt`` and ``summary.json``. Rerunning in the same directory resumes.
"""
from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from gantrain import distributed as ddp
from gantrain import engine
from gantrain.checkpoint import CheckpointIO, rng_state, set_rng_state
from gantrain.config import ConfigError, validate
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.rules import build_rule
from gantrain.tracking import MetricsFile, WandbLogger, to_json_value, write_json

log = logging.getLogger("gantrain")

# Keys that may change between a run and its resumption without changing the trajectory.
RESUMABLE_CHANGES = {"steps", "progress", "logger", "resume"}
FINISHED = ("completed", "diverged")


def _config_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in RESUMABLE_CHANGES:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def check_run_dir(run_dir: Path, config: dict) -> dict | None:
    """Refuse a run directory that holds a different run; return its summary if there is one."""
    saved = run_dir / "config.yaml"
    if saved.exists():
        old = OmegaConf.to_container(OmegaConf.load(saved), resolve=True)
        diffs = _config_diff(old, config)
        if diffs:
            raise ConfigError(f"{run_dir} holds a run with other settings ({'; '.join(diffs[:3])}); "
                              "choose another hydra.run.dir to start a new run")
    summary = run_dir / "summary.json"
    if summary.exists():
        return json.loads(summary.read_text())
    return None


class Trainer:
    def __init__(self, cfg: DictConfig, run_dir: Path):
        validate(cfg)
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.config = OmegaConf.to_container(cfg, resolve=True)
        self.previous = check_run_dir(self.run_dir, self.config)
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
        self.ckpt = CheckpointIO(self.run_dir / "checkpoints", generator=self.game.generator,
                                 discriminator=self.game.discriminator, opt_g=self.opt_g,
                                 opt_d=self.opt_d, game=self.game)
        self.metrics = MetricsFile(self.run_dir / "metrics.jsonl", enabled=self.main)
        self.image_steps = set(int(s) for s in cfg.eval.image_steps)
        self.monitor = None
        if cfg.analysis.every > 0 and self.main:
            from gantrain.analysis.monitor import SpectrumMonitor
            self.monitor = SpectrumMonitor(cfg, self.game)

    # --- pieces ------------------------------------------------------------------------------
    def _restore(self) -> tuple[int, float, str | None]:
        """Resume from the last checkpoint if there is one; returns (step, wall time, wandb id)."""
        if self.cfg.resume and self.ckpt.exists():
            extra = self.ckpt.load(map_location=self.device)
            set_rng_state(extra["rng"], {"data": self.data_rng})
            step = int(extra["step"])
            self.metrics.truncate_after(step)
            log.info("resuming %s from step %d", self.run_dir, step)
            return step, float(extra["wall_time_s"]), extra.get("wandb_id")
        self.metrics.reset()
        return 0, 0.0, None

    def _save(self, step: int, wall: float, wandb_id: str | None) -> None:
        if not self.main:
            return
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
        summary = {"status": status, "steps_done": step, "diverged_at": None,
                   "wall_time_s": round(wall, 3), "method": self.cfg.method.name,
                   "gamma": self.cfg.gamma, "eta": self.cfg.optim.lr, "seed": self.cfg.seed,
                   "metrics": {k: v for k, v in final.items() if k != "step"}, **extra}
        if self.shard.world > 1:
            summary["world_size"] = self.shard.world
        if self.main:
            write_json(self.run_dir / "summary.json", summary)
        return summary

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        prev = self.previous
        if prev and prev.get("status") in FINISHED and (prev["status"] == "diverged"
                                                        or prev["steps_done"] >= cfg.steps):
            log.info("%s already finished (%s at step %d); nothing to do",
                     self.run_dir, prev["status"], prev["steps_done"])
            return prev
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(cfg, self.run_dir / "config.yaml", resolve=True)
        start, wall_before, wandb_id = self._restore()
        ddp.barrier()   # every process has read the checkpoint before rank 0 writes again
        logger = WandbLogger(cfg.logger if self.main else OmegaConf.create({"mode": "disabled"}),
                             self.run_dir, self.config, name=self.run_dir.name,
                             resume_id=wandb_id)
        t0 = time.perf_counter()
        step, done = start, start
        # A run resumed at its last step logs nothing new: its final values are already on disk.
        last = (self.metrics.read() or [{}])[-1] if start > 0 else {}
        wall = lambda: wall_before + time.perf_counter() - t0  # noqa: E731
        try:
            if start == 0:
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
                stats = self.rule.train_step(self.game, self.opt_d, self.opt_g, cfg.batch_size,
                                             self.data_rng)
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
                    bar.set_postfix({k: f"{last[k]:.3g}" for k in ("loss_d", "loss_g", "modes_covered",
                                                                   "dist_equilibrium")
                                     if last.get(k) is not None}, refresh=False)
                bar.update(1)
                if reason is not None:
                    break
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    self._save(step, wall(), logger.run_id)
            bar.close()
        except BaseException as e:
            err = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
            if self.shard.world > 1:
                err += f" (rank {self.shard.rank})"
            self._summary("failed", done, wall(), last, error=err)
            logger.finish(exit_code=1)
            raise
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
        return self.monitor(step, self.run_dir / "images")

    def _images(self, step: int, final: bool) -> list[Path]:
        if step in self.image_steps or final or self.game.eval_due(step):
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
