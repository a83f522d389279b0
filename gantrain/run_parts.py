"""The parts of one run, built the same way for a single run (``gantrain.train.Trainer``) and for
every member of an ensemble (``gantrain.ensemble.engine.Member``): the checked config and its run
directory, the seeded game, the players' optimizers, the batch generator, the checkpoints and the
``Recorder``. How the players are stepped is the caller's; nothing here steps them."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from gantrain import engine
from gantrain.checkpoint import CheckpointIO
from gantrain.config import Checked, validate
from gantrain.distributed import SINGLE, Shard, local_device
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.recorder import Recorder
from gantrain.rundir import check_run_dir


@dataclass
class Setting:
    """A run's checked config (its typed sections), its resolved config (a dict), device and
    dtype."""
    checked: Checked
    config: dict
    device: str
    dtype: torch.dtype


def prepare(cfg: DictConfig, run_dir: Path, checked: Checked | None = None) -> Setting:
    """Check the config (unless ``checked`` already holds its check), refuse another run's
    directory (before any work), apply the engine settings.

    Args:
        cfg: the composed config.
        run_dir: the run's directory.
        checked: ``validate(cfg)``'s result when the caller has it (the command line's pre-check).
    Returns:
        the run's ``Setting``.
    Raises:
        ConfigError: a bad value or another run's directory (one line).
    """
    checked = checked if checked is not None else validate(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    check_run_dir(Path(run_dir), config)
    return Setting(checked, config, local_device(engine.setup(checked)), getattr(torch, checked.dtype))


def seeded_game(s: Setting):
    """The run's game (from its checked config), built after seeding torch, numpy and random with
    its seed (its players' initial parameters are the seed's)."""
    seed = s.checked.seed
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    return build_game(s.checked, s.device, s.dtype)


@dataclass
class RunParts:
    """A run's optimizers, batch generator, checkpoints and recorder (its lock: ``recorder.lock``)."""
    opt_d: object
    opt_g: object
    data_rng: torch.Generator
    ckpt: CheckpointIO
    recorder: Recorder


def assemble(run_dir: Path, game, s: Setting, shard: Shard = SINGLE, rule=None) -> RunParts:
    """The optimizers of ``game``'s players, the batch generator (seed + 1), the checkpoints (with
    a stateful ``rule``'s state) and the recorder of ``run_dir``.

    Args:
        run_dir: the run's directory.
        game: its game (players built).
        s: its ``Setting``.
        shard: this process's place under torch.distributed.
        rule: the rule whose state checkpoints keep, if it has any.
    """
    opt_d = build_optimizer(s.checked.optim, game.d_params())
    opt_g = build_optimizer(s.checked.optim, game.g_params())
    data_rng = torch.Generator(device=s.device).manual_seed(s.checked.seed + 1)
    ckpt = CheckpointIO(Path(run_dir) / "checkpoints", keep_last=s.checked.keep_last,
                        generator=game.generator, discriminator=game.discriminator, opt_g=opt_g,
                        opt_d=opt_d, game=game)
    if rule is not None and rule.stateful:   # e.g. optimistic's previous gradient
        ckpt.register(rule=rule)
    recorder = Recorder(s.checked, s.config, Path(run_dir), ckpt, game, data_rng, shard, s.device)
    return RunParts(opt_d, opt_g, data_rng, ckpt, recorder)
