"""Helpers for tests: compose configs the way the CLI does."""
from __future__ import annotations

from hydra import compose, initialize_config_dir

from gantrain.cli import CONFIG_DIR


def make_cfg(*overrides: str):
    """The composed config for ``gantrain <overrides>`` (logger off, no progress bar)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=["logger=none", "progress=false", *overrides])
