"""Checkpoints: a registry of state dicts (as GAN_stability's CheckpointIO), saved atomically.

A checkpoint holds every registered module's and optimizer's state, the step and every RNG state,
so that resuming continues the same run bit for bit (on CPU).
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def atomic_write_bytes(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: a crash never leaves a
    half-written file under ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(),
                             "generators": {k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # Tensors and plain numbers only, so that weights_only loading accepts it.
    state["numpy"] = {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)}
    version, internal, gauss = random.getstate()
    state["python"] = {"version": version, "internal": list(internal), "gauss": gauss}
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    for k, g in generators.items():
        g.set_state(state["generators"][k])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


class CheckpointIO:
    """Register objects with ``state_dict``/``load_state_dict``; save and load them together."""

    def __init__(self, directory: Path, **modules):
        self.directory = Path(directory)
        self.modules = dict(modules)

    def register(self, **modules) -> None:
        self.modules.update(modules)

    def path(self, name: str = "last.pt") -> Path:
        return self.directory / name

    def save(self, name: str = "last.pt", **extra) -> Path:
        payload = {"modules": {k: m.state_dict() for k, m in self.modules.items()}, **extra}
        path = self.path(name)
        atomic_write_bytes(path, lambda f: torch.save(payload, f))
        return path

    def exists(self, name: str = "last.pt") -> bool:
        return self.path(name).is_file()

    def load(self, name: str = "last.pt", map_location=None) -> dict[str, Any]:
        payload = torch.load(self.path(name), map_location=map_location, weights_only=True)
        missing = set(self.modules) - set(payload["modules"])
        if missing:
            raise KeyError(f"checkpoint {self.path(name)} lacks {sorted(missing)}")
        for k, m in self.modules.items():
            m.load_state_dict(payload["modules"][k])
        return {k: v for k, v in payload.items() if k != "modules"}
