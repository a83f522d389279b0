"""Image datasets as endless, deterministic streams of training batches in [-1, 1].

Batch ``k`` of a run with seed ``s`` holds the images ``batch_indices(s, k, B, N)``: ``B`` indices
drawn uniformly with replacement from ``torch.Generator().manual_seed(batch_seed(s, k))``. It is
a pure function of ``(s, k)`` (and the dataset), so a resumed run continues with the very batches
it would have seen, whatever the device or the number of loader workers, and ``ImageData`` keeps
no state of its own.

Two ways to hold the images:

- tensor-resident (cifar10, fake_images): the whole split is one uint8 tensor ``[N, 3, H, W]`` on
  the device; a batch is a gather by index there, converted to float on the device.
- DataLoader (celeba, imagenet): files decoded and resized by ``workers`` worker processes
  (persistent, prefetching, pinned memory on CUDA); the batch sampler yields the same index
  batches, and uint8 batches travel to the device, where they are converted to float.

Pixel values: ``x = v / 127.5 - 1`` for the uint8 value ``v`` (0 -> -1, 255 -> 1 exactly).
"""
from __future__ import annotations

import hashlib
import operator
import os
from itertools import count
from pathlib import Path
from typing import Iterator, Optional, Union

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from gantrain.checks import one_of
from gantrain.config.schema import merge
from gantrain.data.schema import dataset_schemas
from gantrain.data.sources import REFERENCE_PERMUTATION_SEED, ImageFiles
from gantrain.engine import resolve_device
from gantrain.errors import ConfigError
from gantrain.registry import load

PREFETCH_FACTOR = 4                  # batches in flight per DataLoader worker


# --- batches as a pure function of (seed, k) ------------------------------------------------
def batch_seed(seed: int, k: int) -> int:
    """The seed of batch ``k``'s index generator: a 63-bit hash of ``(seed, k)``."""
    digest = hashlib.blake2b(f"gantrain.data:{int(seed)}:{int(k)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def batch_indices(seed: int, k: int, batch_size: int, num_images: int) -> torch.Tensor:
    """Indices (int64, CPU) of the images of batch ``k``: uniform, with replacement."""
    g = torch.Generator().manual_seed(batch_seed(seed, k))
    return torch.randint(num_images, (batch_size,), generator=g)


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1] (on x's device)."""
    return x.to(torch.float32).div_(127.5).sub_(1.0)


class _IndexBatches:
    """Batch sampler: the index batches ``start``, ``start + 1``, ... (endless)."""

    def __init__(self, seed: int, batch_size: int, num_images: int, rows: Optional[slice] = None):
        self.seed, self.batch_size, self.num_images = seed, batch_size, num_images
        self.start, self.rows = 0, rows

    def __iter__(self):
        rows = slice(None) if self.rows is None else self.rows
        for k in count(self.start):
            yield batch_indices(self.seed, k, self.batch_size, self.num_images)[rows].tolist()


def _as_int(value, lo: int) -> Optional[int]:
    """``value`` as an int when it is an integer (Python, numpy or 0-d tensor) >= lo, else None."""
    if isinstance(value, bool):
        return None
    try:
        value = operator.index(value)
    except TypeError:
        return None
    return value if value >= lo else None


# --- the dataset ----------------------------------------------------------------------------
class ImageData:
    """One image dataset as an endless, deterministic stream of training batches in [-1, 1]."""

    name: str
    resolution: int
    num_images: int

    def __init__(self, data_cfg, *, seed: int, batch_size: int, device: Union[str, torch.device],
                 workers: int = 2):
        cfg = self._schema(data_cfg)
        if _as_int(batch_size, 1) is None:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: must be an integer >= 1")
        if _as_int(workers, 0) is None:
            raise ConfigError(f"dataset.workers={workers!r} is invalid: must be an integer >= 0")
        batch_size, workers = _as_int(batch_size, 1), _as_int(workers, 0)
        self.cfg = cfg
        self.name, self.resolution, self.split = cfg.name, cfg.resolution, cfg.split
        self.channels = int(cfg.channels)
        self.seed, self.batch_size, self.workers = int(seed), batch_size, workers
        # This process's rows of every batch under torch.distributed (None: the whole batch);
        # ``batch``/``stream`` then load only those images.
        self.rows: Optional[slice] = None
        self.device = torch.device(resolve_device(str(device)))
        root = getattr(cfg, "root", None)
        self.root: Optional[Path] = Path(os.path.expanduser(root)).resolve() if root else None
        self._images: Optional[torch.Tensor] = None    # tensor-resident: uint8 [N, 3, R, R] on device
        self._files: Optional[ImageFiles] = None       # DataLoader path
        self._order: Optional[torch.Tensor] = None     # reference order (None: the split's order)
        self._loader: Optional[DataLoader] = None
        self._sampler: Optional[_IndexBatches] = None
        self._generation = 0                           # which stream() is the live one
        source = load(cfg.opener)(self)   # the dataset's own opener (gantrain.data.sources)
        self._images, self._files, self._preprocess = source.images, source.files, source.preprocess
        if source.order is not None:
            self._order = source.order
        self.num_images = len(self._images) if self._images is not None else len(self._files)

    @staticmethod
    def _schema(data_cfg):
        schemas = dataset_schemas()
        if isinstance(data_cfg, tuple(schemas.values())):
            return data_cfg
        name = data_cfg.get("name") if isinstance(data_cfg, (dict, DictConfig)) else None
        one_of("dataset.name", name, sorted(schemas))
        return merge(schemas[name], data_cfg, "dataset")

    # --- batches ------------------------------------------------------------------------------
    def indices(self, k: int) -> torch.Tensor:
        """The indices (int64, CPU) of the images of training batch ``k``."""
        return batch_indices(self.seed, k, self.batch_size, self.num_images)

    def batch(self, k: int) -> torch.Tensor:
        """The k-th training batch, float32 ``[B, 3, R, R]`` in [-1, 1] on the device."""
        idx = self.indices(k)
        if self.rows is not None:
            idx = idx[self.rows]
        if self._images is not None:
            return to_unit_range(self._images.index_select(0, self._to_device(idx)))
        return self._finish(torch.stack([self._files[i] for i in idx.tolist()]))

    def stream(self, start: int) -> Iterator[torch.Tensor]:
        """Batches ``start``, ``start + 1``, ... equal to ``batch(k)``. DataLoader path: the
        workers start decoding at once and stay ahead by ``PREFETCH_FACTOR`` batches each; a
        later call (or ``close``) ends the streams made before it (they share the persistent
        workers, which restart at the new position)."""
        if _as_int(start, 0) is None:
            raise ValueError(f"stream start must be an integer >= 0, got {start!r}")
        start = _as_int(start, 0)
        self._generation += 1
        if self._images is not None:   # a gather on the device: nothing to prefetch
            return (self.batch(k) for k in count(start))
        loader = self._stream_loader()
        self._sampler.start = start
        it = iter(loader)              # workers start decoding (persistent: reused, restarted)
        return self._follow(it, self._generation)

    def _follow(self, it, generation: int) -> Iterator[torch.Tensor]:
        while True:
            if generation != self._generation:
                raise RuntimeError("ImageData.stream: this stream was replaced by a later "
                                   "stream() call or closed")
            yield self._finish(next(it))

    def _stream_loader(self) -> DataLoader:
        if self._loader is None:
            self._sampler = _IndexBatches(self.seed, self.batch_size, self.num_images, self.rows)
            self._loader = self._make_loader(self._sampler, persistent=True)
        return self._loader

    def _make_loader(self, batch_sampler, persistent: bool) -> DataLoader:
        kw = {}
        if self.workers > 0:
            kw = {"persistent_workers": persistent, "prefetch_factor": PREFETCH_FACTOR}
        return DataLoader(self._files, batch_sampler=batch_sampler, num_workers=self.workers,
                          pin_memory=self.device.type == "cuda", **kw)

    def reference_images(self, n: int, batch_size: int) -> Iterator[torch.Tensor]:
        """The first ``n`` images of the split in its reference order (the file order; for
        imagenet a fixed shuffle, seed 0, so that they span the classes), in [-1, 1], on the
        device, in batches of ``batch_size`` (the last may be smaller)."""
        if _as_int(n, 1) is None or n > self.num_images:
            raise ConfigError(f"reference images n={n!r} is invalid: dataset={self.name} "
                              f"split={self.split} has {self.num_images} images")
        if _as_int(batch_size, 1) is None:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        n, batch_size = _as_int(n, 1), _as_int(batch_size, 1)
        order = self._order[:n] if self._order is not None else torch.arange(n)
        chunks = list(torch.split(order, batch_size))
        if self._images is not None:
            return (to_unit_range(self._images.index_select(0, self._to_device(c))) for c in chunks)
        loader = self._make_loader([c.tolist() for c in chunks], persistent=False)
        return (self._finish(x) for x in loader)

    def _to_device(self, idx: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":   # pinned: the copy does not wait for the GPU
            return idx.pin_memory().to(self.device, non_blocking=True)
        return idx.to(self.device)

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        """A uint8 CPU batch -> float32 in [-1, 1] on the device (converted there)."""
        if self.device.type == "cuda":
            if not x.is_pinned():
                x = x.pin_memory()
            x = x.to(self.device, non_blocking=True)
        return to_unit_range(x)

    # --- bookkeeping ----------------------------------------------------------------------------
    def protocol(self) -> dict:
        """What the images are, for recording with scores and keying reference statistics."""
        return {"dataset": self.name, "root": str(self.root) if self.root else None,
                "split": self.split, "resolution": self.resolution, "channels": self.channels,
                "num_images": self.num_images, "preprocess": self._preprocess,
                "reference_order": "file" if self._order is None
                else f"permutation(seed={REFERENCE_PERMUTATION_SEED})"}

    def state_dict(self) -> dict:
        """Empty: batches are a pure function of (seed, k), the caller's step counter."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def close(self) -> None:
        """Stop the loader's worker processes (a later ``stream`` starts new ones)."""
        self._generation += 1
        loader, self._loader = self._loader, None
        it = getattr(loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    def __repr__(self) -> str:
        where = "tensor-resident" if self._images is not None else f"{self.workers} workers"
        return (f"ImageData({self.name}, {self.split}, {self.num_images} images, "
                f"{self.resolution}px, {where}, {self.device})")
