"""Where and how the numbers are computed: device, TF32, channels_last, mixed precision, determinism.
(Which precisions a rule may use is checked with the config: ``gantrain.config.precision``.)
"""
from __future__ import annotations

import contextlib
import os

import torch

from gantrain.config.precision import check_engine
from gantrain.errors import ConfigError


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is invalid: no CUDA device is visible; use device=cpu or auto")
    return name


def setup(cfg) -> str:
    """Apply the engine settings process-wide; return the device."""
    check_engine(cfg)
    device = resolve_device(cfg.device)
    e = cfg.engine
    if e.deterministic:
        # cuBLAS needs a fixed workspace for reproducible matmuls.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device == "cuda":
        torch.backends.cudnn.benchmark = True
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(e.tf32)
        torch.backends.cudnn.allow_tf32 = bool(e.tf32)
    return device


def autocast(cfg, device: str):
    """The forward-pass context: bf16 autocast when asked for (first-order rules only)."""
    if cfg.engine.amp == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
