"""The toy datasets' schemas: each builds its game one way, through its ``game`` string or its own
``build_game``, never with a second, dead description of it."""
from __future__ import annotations

import importlib

import pytest

from gantrain.games import schema


@pytest.mark.parametrize("cls", [schema.DiracData, schema.GaussianData, schema.MixtureData])
def test_a_game_string_only_where_build_game_reads_it(cls):
    own = "build_game" in vars(cls)
    assert own != hasattr(cls, "game"), cls.__name__   # exactly one of the two
    if not own:
        module, attr = cls.game.split(":")
        assert callable(getattr(importlib.import_module(module), attr))
