"""Checkpoints: a registry of state dicts (as GAN_stability's CheckpointIO), saved atomically.

A checkpoint holds every registered module's and optimizer's state, the step and every RNG state,
so that resuming continues the same run bit for bit (on CPU).

``checkpoints/last.pt`` is always the newest checkpoint; with ``keep_last=N`` the N-1 before it stay
beside it as ``step_<step>.pt``, so that a damaged ``last.pt`` costs a few steps, not the run.
"""
from __future__ import annotations

import logging
import os
import random
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantrain.errors import ConfigError, first_line

log = logging.getLogger("gantrain")

LAST = "last.pt"
_STEP_FILE = re.compile(r"step_(\d+)\.pt")
_TEMP_PREFIX = "."   # temporary files: ".<name>.<random>.tmp"
_TEMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)   # read the process umask (there is no getter) ...
os.umask(_UMASK)           # ... and put it back


class CheckpointError(ConfigError):
    """No checkpoint of a run directory can be read; the message is one line for the user."""


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (a power cut after it must not bring back the old file)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:   # some file systems cannot fsync a directory; the rename stands anyway
        pass
    finally:
        os.close(fd)


def _write_temporary(directory: Path, name: str, write) -> Path:
    """A complete, fsynced temporary file ``.<name>.<random>.tmp`` in ``directory`` (removed again
    when writing fails)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{_TEMP_PREFIX}{name}.", suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)   # as open() would make it (mkstemp: 0600)
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def _naming(e: OSError, path: Path) -> OSError:
    """The same error naming ``path`` (OSError(errno, ...) gives back the matching subclass)."""
    return OSError(e.errno, e.strerror or first_line(e), str(path))


def atomic_write_bytes(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: a crash never leaves a
    half-written file under ``path``. An OSError (a full disk, a quota) leaves ``path`` as it was
    and is raised again naming ``path``."""
    path = Path(path)
    try:
        tmp = _write_temporary(path.parent, path.name, write)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
    except OSError as e:
        raise _naming(e, path) from e


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


def read_checkpoint(path: Path, map_location=None) -> dict[str, Any]:
    """A checkpoint file's payload, after checking every record against the CRC-32 that torch.save
    wrote for it: torch.load itself reads a flipped byte in tensor data without complaint."""
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
    if bad is not None:
        raise ValueError(f"record {bad} fails its CRC check")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("modules"), dict):
        raise ValueError("not a gantrain checkpoint (no 'modules')")
    return payload


class CheckpointIO:
    """Register objects with ``state_dict``/``load_state_dict``; save and load them together.

    ``save`` writes ``last.pt`` atomically and keeps the ``keep_last - 1`` checkpoints before it as
    ``step_<step>.pt``; ``load_latest`` falls back from an unreadable checkpoint to the newest
    readable one."""

    def __init__(self, directory: Path, keep_last: int = 1, **modules):
        if int(keep_last) < 1:
            raise ValueError(f"keep_last={keep_last} must be >= 1")
        self.directory = Path(directory)
        self.keep_last = int(keep_last)
        self.modules = dict(modules)
        self.last_step: int | None = None   # the step in last.pt, when this process knows it
        self.unreadable: list[Path] = []    # what the last load_latest skipped

    def register(self, **modules) -> None:
        self.modules.update(modules)

    def path(self, name: str = LAST) -> Path:
        return self.directory / name

    def step_path(self, step: int) -> Path:
        return self.directory / f"step_{step:08d}.pt"

    def older(self) -> list[tuple[int, Path]]:
        """The kept ``step_<step>.pt`` files, newest first."""
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir()
                 if (m := _STEP_FILE.fullmatch(p.name))]
        return sorted(found, reverse=True)

    def candidates(self) -> list[Path]:
        """Every checkpoint file, newest first."""
        last = [self.path()] if self.path().is_file() else []
        return last + [p for _, p in self.older()]

    def save(self, name: str = LAST, **extra) -> Path:
        payload = {"modules": {k: m.state_dict() for k, m in self.modules.items()}, **extra}
        path = self.path(name)
        if name != LAST:
            atomic_write_bytes(path, lambda f: torch.save(payload, f))
            return path
        # The new file is complete on disk before anything is renamed: a crash or a full disk
        # while writing leaves last.pt as it was. A crash between the two renames leaves the
        # previous checkpoint as step_<step>.pt and no last.pt, which load_latest handles.
        try:
            new = _write_temporary(self.directory, LAST, lambda f: torch.save(payload, f))
            try:
                previous, self.last_step = self.last_step, None
                if self.keep_last > 1 and previous is not None and path.is_file():
                    os.replace(path, self.step_path(previous))
                os.replace(new, path)
            except BaseException:
                new.unlink(missing_ok=True)
                raise
            _fsync_dir(self.directory)
        except OSError as e:
            raise _naming(e, path) from e
        self.last_step = extra.get("step")
        for _, old in self.older()[self.keep_last - 1:]:
            old.unlink(missing_ok=True)
        return path

    def exists(self, name: str = LAST) -> bool:
        return self.path(name).is_file()

    def load(self, name: str = LAST, map_location=None) -> dict[str, Any]:
        return self._load_file(self.path(name), map_location)

    def _load_file(self, path: Path, map_location=None) -> dict[str, Any]:
        payload = read_checkpoint(path, map_location)
        missing = set(self.modules) - set(payload["modules"])
        if missing:
            raise KeyError(f"checkpoint {path} lacks {sorted(missing)}")
        for k, m in self.modules.items():
            m.load_state_dict(payload["modules"][k])
        return {k: v for k, v in payload.items() if k != "modules"}

    def load_latest(self, map_location=None) -> dict[str, Any] | None:
        """Load the newest readable checkpoint into the registered objects and return its other
        entries (step, RNG states ...); None when there is no checkpoint at all. Unreadable newer
        ones are skipped with a one-line warning each and listed in ``self.unreadable``; when none
        is readable, CheckpointError (one line)."""
        self.unreadable = []
        reasons = []
        for path in self.candidates():
            try:
                extra = self._load_file(path, map_location)
            except Exception as e:   # torch: RuntimeError, EOFError, ValueError ... on a bad file
                reason = f"{type(e).__name__}: {first_line(e)}"
                log.warning("checkpoint %s is unreadable (%s); trying the one before it",
                            path, reason)
                self.unreadable.append(path)
                reasons.append(f"{path.name}: {reason}")
                continue
            self.last_step = int(extra["step"]) if path == self.path() else None
            return extra
        if reasons:
            raise CheckpointError(
                f"no readable checkpoint in {self.directory} ({'; '.join(reasons)[:300]}); "
                "rerun with resume=false to start this run over, or choose another hydra.run.dir")
        return None

    def set_aside_unreadable(self) -> None:
        """Rename what load_latest could not read to ``<name>.corrupt`` (kept for inspection), so
        that it is neither tried again nor counted among the kept checkpoints."""
        for path in self.unreadable:
            try:
                os.replace(path, path.with_name(path.name + ".corrupt"))
            except OSError as e:
                log.warning("could not rename unreadable checkpoint %s (%s)", path, first_line(e))
        self.unreadable = []

    def clear(self) -> None:
        """Remove every checkpoint and temporary file (a run that starts over)."""
        self.last_step = None
        for path in self.candidates():
            path.unlink(missing_ok=True)
        self.remove_temporary()

    def remove_temporary(self) -> None:
        """Temporary files left by a process killed in the middle of a write."""
        if self.directory.is_dir():
            for p in self.directory.iterdir():
                if p.name.startswith(_TEMP_PREFIX) and p.name.endswith(_TEMP_SUFFIX):
                    p.unlink(missing_ok=True)
