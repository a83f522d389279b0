"""What a run writes to its directory, and when it has ended: the lock, ``config.yaml``,
``metrics.jsonl``, the checkpoints, the images and ``summary.json``, and the divergence check.

One ``Recorder`` per run directory. The training loop (``gantrain.train.Trainer``) and each member
of an ensemble (``gantrain.ensemble.engine``) step their players their own way and record through
the same public methods, so a member's directory is a single run's, file for file.
"""
from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import OmegaConf

from gantrain import distributed as ddp
from gantrain.checkpoint import CheckpointIO, atomic_write_text, rng_state, set_rng_state
from gantrain.errors import first_line
from gantrain.rundir import FINISHED, RunDirLock, read_summary, writing
from gantrain.tracking import MetricsFile, to_json_value, write_json

if TYPE_CHECKING:
    from gantrain.config import Checked

log = logging.getLogger("gantrain")


class Recorder:
    """A run directory's files and bookkeeping.

    Args:
        cfg: the run's checked config (``gantrain.config.Checked``).
        config: its composed config, resolved (``config.yaml``).
        run_dir: its directory.
        ckpt: the checkpoint registry (players, optimizers, game, rule state).
        game: the game (its evaluation, images and metrics).
        data_rng: the batch generator, whose state every checkpoint keeps.
        shard: this process's place in torch.distributed (``rank``, ``world``).
        device: where checkpoints are loaded to.
    """

    def __init__(self, cfg: Checked, config: dict, run_dir: Path, ckpt: CheckpointIO, game,
                 data_rng, shard, device):
        self.config = config
        self.cfg, self.run_dir, self.ckpt, self.game, self.data_rng = cfg, run_dir, ckpt, game, data_rng
        self.shard, self.device = shard, device
        self.main = shard.rank == 0     # rank 0 alone writes files
        self.metrics = MetricsFile(run_dir / "metrics.jsonl", enabled=self.main)
        self.lock = RunDirLock(run_dir)
        self.image_steps = set(int(s) for s in cfg.eval.image_steps)
        self.step_time_s, self.steps_timed = 0.0, 0

    def timed(self, seconds: float) -> None:
        """Count one update of ``seconds`` (the summary's mean ``step_time_ms``)."""
        self.step_time_s += seconds
        self.steps_timed += 1

    def due(self, step: int, final: bool) -> bool:
        """Whether ``step`` is recorded: the last one, a log step, an image step or an evaluation
        step of the game."""
        return (final or step % self.cfg.log_every == 0 or step in self.image_steps
                or self.game.eval_due(step))

    def finished_before(self) -> dict | None:
        """The summary of a run that already ended in this directory (read under the lock:
        another process may just have ended it), else None."""
        prev = read_summary(self.run_dir)
        if prev and prev.get("status") in FINISHED and (prev["status"] == "diverged"
                                                        or prev.get("steps_done", 0) >= self.cfg.steps):
            log.info("%s already finished (%s at step %s); nothing to do",
                     self.run_dir, prev["status"], prev.get("steps_done"))
            return prev
        return None

    def write_config(self) -> None:
        """``config.yaml``: the composed config, resolved."""
        if self.main:
            with writing(self.run_dir / "config.yaml"):
                atomic_write_text(self.run_dir / "config.yaml",
                                  OmegaConf.to_yaml(OmegaConf.create(self.config)))

    def restore(self) -> tuple[int, float, str | None, bool]:
        """Resume from the newest readable checkpoint if there is one.

        Returns:
            (step, wall time, wandb id, resumed); metrics.jsonl loses the records past that step.
        """
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

    def save(self, step: int, wall: float, wandb_id: str | None) -> None:
        """A checkpoint at ``step`` (rank 0)."""
        if not self.main:
            return
        with writing(self.ckpt.path()):
            self.ckpt.save(step=step, wall_time_s=wall, wandb_id=wandb_id,
                           rng=rng_state({"data": self.data_rng}))

    def record(self, step: int, stats: dict[str, Any], final: bool = False) -> dict[str, Any]:
        """The step's record (stats, evaluation when due, the game's metrics), appended to
        metrics.jsonl.

        Returns:
            the record.
        """
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

    def divergence(self, stats: dict[str, torch.Tensor]) -> str | None:
        """Why the run has diverged at this step (a non-finite loss or parameter norm, or a norm
        over ``divergence.max_param_norm``), or None."""
        for key in ("loss_d", "loss_g"):
            if key in stats and not math.isfinite(float(stats[key])):
                return f"{key} is {float(stats[key])}"
        pnorm = float(stats["param_norm"])
        if not math.isfinite(pnorm):
            return f"parameter norm is {pnorm}"
        if pnorm > self.cfg.divergence.max_param_norm:
            limit = self.cfg.divergence.max_param_norm
            return f"parameter norm {pnorm:.3g} > divergence.max_param_norm={limit:g}"
        return None

    def images(self, step: int, final: bool) -> list[Path]:
        """The game's pictures at this step when due (``eval.image_steps``, evaluations, the end)."""
        if step in self.image_steps or final or self.game.eval_due(step):
            with writing(self.run_dir / "images"):
                return self.game.save_images(step, self.run_dir)
        return []

    def summary(self, status: str, step: int, wall: float, final: dict, **extra) -> dict:
        """``summary.json``: the run's status, steps, time, settings and last metrics.

        Returns:
            the summary (also when it could not be written: one line says so).
        """
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
