"""Cached FID reference statistics, keyed by the protocol that produced them (docs/experiments.md §E).

The key is a dict: the dataset's protocol without its location (dataset, split, resolution, ...),
the number of reference images, the Inception weights (file name and SHA-256), the resize and
quantisation. Its canonical JSON is hashed into the file name
``<dataset>-<split>-<n>-<hash>.npz`` under the cache folder; the file also stores the key itself,
which is compared on load (a file whose key differs, or that cannot be read, is recomputed).
Files are written atomically, so concurrent runs at worst compute the same statistics twice.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from gantrain.checkpoint import atomic_write_bytes
from gantrain.metrics import defaults


def resolve_cache_dir(configured: Optional[str | Path] = None) -> Path:
    """The folder of the reference statistics.

    Args:
        configured: ``eval.cache_dir``, or None.

    Returns:
        ``configured`` when given, else ``$GANTRAIN_CACHE``, else ``~/.cache/gantrain/fid_stats``.
    """
    return Path(configured).expanduser() if configured else defaults.default_cache_dir()


def _canonical(key: dict) -> str:
    return json.dumps({"cache_version": defaults.CACHE_VERSION, **key}, sort_keys=True, default=str)


def reference_key(key: dict) -> str:
    """A short hash of a protocol.

    Args:
        key: the protocol (module docstring), JSON-serializable.

    Returns:
        16 hex digits identifying ``key`` (the order of its entries does not matter).
    """
    return hashlib.sha256(_canonical(key).encode()).hexdigest()[:16]


def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", str(value)).strip("_") or "x"


def stats_path(key: dict, cache_dir: Optional[str | Path] = None) -> Path:
    """Where the statistics of ``key`` are cached.

    Args:
        key: the protocol.
        cache_dir: as for ``resolve_cache_dir``.

    Returns:
        ``<cache>/<dataset>-<split>-<num_images>-<hash>.npz``.
    """
    name = "-".join(_slug(key.get(k, "")) for k in ("dataset", "split", "num_images"))
    return resolve_cache_dir(cache_dir) / f"{name}-{reference_key(key)}.npz"


def load_stats(path: Path, key: dict) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Read cached statistics.

    Args:
        path: the ``.npz`` file.
        key: the protocol the statistics must have been made under.

    Returns:
        (mu, sigma) in float64, or None when the file is missing, unreadable or another key's.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != _canonical(key):
                return None
            return f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
    except (OSError, KeyError, ValueError, EOFError):
        return None


def save_stats(path: Path, key: dict, mu: np.ndarray, sigma: np.ndarray) -> None:
    """Write statistics with their key, atomically.

    Args:
        path: the ``.npz`` file.
        key: the protocol they were made under (stored for ``load_stats``).
        mu, sigma: the mean and covariance.
    """
    buf = io.BytesIO()
    np.savez(buf, mu=np.asarray(mu, np.float64), sigma=np.asarray(sigma, np.float64),
             key=np.array(_canonical(key)))
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))


def reference_stats(key: dict, compute: Callable[[], tuple[np.ndarray, np.ndarray]],
                    cache_dir: Optional[str | Path] = None
                    ) -> tuple[np.ndarray, np.ndarray, Path, bool]:
    """The reference statistics of a protocol, from the cache or computed and then cached.

    Args:
        key: the protocol.
        compute: makes (mu, sigma) when the cache has none.
        cache_dir: as for ``resolve_cache_dir``.

    Returns:
        (mu, sigma, path, from_cache).
    """
    path = stats_path(key, cache_dir)
    cached = load_stats(path, key)
    if cached is not None:
        return cached[0], cached[1], path, True
    mu, sigma = compute()
    save_stats(path, key, mu, sigma)
    return np.asarray(mu, np.float64), np.asarray(sigma, np.float64), path, False
