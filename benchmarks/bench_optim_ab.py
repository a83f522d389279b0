"""The default run's step with gantrain's optimizer against the one it replaced, in one process.

Usage: python benchmarks/bench_optim_ab.py --before DIR
``DIR`` is a checkout from before gantrain stepped its own optimizers (e.g. commit f37e2c6), whose
``gantrain/optim/tf_rmsprop.py`` holds the torch.optim TF-RMSProp the default run used. Both
steppers train the same default game (SimGD, MoG 4×256, rmsprop_tf) from the same seed; 8 rounds
of 50 steps alternate their order, and each figure is the median round (ms per step).
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from gantrain.cli import CONFIG_DIR
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.rules import build_rule


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location(
        "old_tf_rmsprop", args.before / "gantrain" / "optim" / "tf_rmsprop.py")
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["logger=none"])
    o = cfg.optim

    def setup(kind: str):
        torch.manual_seed(0)
        game = build_game(validate(cfg))
        rule = build_rule(cfg.method.name, cfg.gamma, {})
        if kind == "torch.optim (before)":
            make = lambda ps: old.RMSpropTF(list(ps), lr=o.lr, decay=o.decay, eps=o.eps,  # noqa: E731
                                            initial_accumulator=o.initial_accumulator)
        else:
            make = lambda ps: build_optimizer(o, ps)  # noqa: E731
        od, og = make(game.d_params()), make(game.g_params())
        rng = torch.Generator().manual_seed(1)
        return lambda: rule.train_step(game, od, og, cfg.batch_size, rng)

    steppers = {k: setup(k) for k in ("torch.optim (before)", "gantrain (after)")}
    for f in steppers.values():
        for _ in range(20):
            f()
    rounds = {k: [] for k in steppers}
    for r in range(8):
        order = list(steppers.items()) if r % 2 == 0 else list(steppers.items())[::-1]
        for k, f in order:
            t = time.perf_counter()
            for _ in range(50):
                f()
            rounds[k].append((time.perf_counter() - t) / 50 * 1e3)
    for k, v in rounds.items():
        print(f"{k}: {statistics.median(v):.2f} ms/step (rounds: {', '.join(f'{x:.2f}' for x in v)})",
              file=sys.stdout)


if __name__ == "__main__":
    main()
