"""Image data: one dataset as an endless, deterministic stream of training batches in [-1, 1].

``ImageData`` lives in ``gantrain.data.images``; it is imported lazily here so that
``gantrain.data.schema`` (imported by ``gantrain.config.schema``) stays free of torchvision.
"""
from __future__ import annotations

__all__ = ["ImageData", "batch_indices", "batch_seed", "make_fake_images"]


def __getattr__(name: str):
    if name in ("ImageData", "batch_indices", "batch_seed"):
        from gantrain.data import images
        return getattr(images, name)
    if name == "make_fake_images":
        from gantrain.data.fake import make_fake_images
        return make_fake_images
    raise AttributeError(f"module 'gantrain.data' has no attribute {name!r}")
