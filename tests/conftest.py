"""Shared fixtures: compose configs the way the CLI does, with wandb off."""
from __future__ import annotations

import os

import pytest
from hydra import compose, initialize_config_dir

from gantrain.cli import CONFIG_DIR

os.environ.setdefault("WANDB_MODE", "disabled")


def make_cfg(*overrides: str):
    """The composed config for ``gantrain <overrides>`` (logger off, no progress bar)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=["logger=none", "progress=false", *overrides])


@pytest.fixture
def cfg_factory():
    return make_cfg
