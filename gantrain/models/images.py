"""Image generators and discriminators (config group ``arch``; docs/experiments.md §C-§D).

``build_image_models(arch_cfg, resolution)`` returns (G, D): G maps z [B, arch.z_dim] to images
[B, 3, R, R] in [-1, 1] (tanh), D maps images to logits [B]. Architectures: the JARE ResNets
(:mod:`gantrain.models.resnet`) and the DC-GAN style nets of both papers' code
(:mod:`gantrain.models.dcgan`).

Config keys (conf/arch/<name>.yaml): ``name``; ``filters`` (Mf, 64); ``z_dim`` (128); ``z_std``
(1.0, used by the game to draw z); ``spectral_norm`` (false; true wraps every conv and dense layer
of D in ``torch.nn.utils.parametrizations.spectral_norm``, one power iteration per forward in
train mode: the SN-GAN baseline, as JARE's ``*_sn`` models); ``init`` (``xavier``: slim's
Xavier-uniform with zero biases, as both codes; ``normal``: N(0, 0.02)); ``batch_norm`` (only the
DC-GAN style nets that have a variant with it; null or absent means the arch's default);
``d_extra_dense`` / ``g_extra_dense`` (0: none; k: a k-unit dense layer before D's logit / after
G's z, DC-GAN style nets only; the Numerics code's conv4.py, its Fig. 8 net, has 512 in both).
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gantrain.errors import ConfigError
from gantrain.models.dcgan import DCGAN_BATCH_NORM, DCGAN_STAGES, INITS, build_dcgan, init_weights
from gantrain.models.resnet import RESNETS, build_resnet

IMAGE_ARCHS: tuple[str, ...] = (*RESNETS, *DCGAN_STAGES)


def _get(cfg, key: str, default=None):
    if isinstance(cfg, dict) or hasattr(cfg, "get"):
        value = cfg.get(key, default)
    else:
        value = getattr(cfg, key, default)
    return default if value is None else value


def _int(cfg, key: str, default: int, low: int, why: str = "") -> int:
    value = _get(cfg, key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"arch.{key}={value!r} is invalid: must be an integer >= {low}{why}")
    return value


def _bool(cfg, key: str, default: bool) -> bool:
    value = _get(cfg, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"arch.{key}={value!r} is invalid: must be true or false")
    return value


def supported_resolutions(name: str) -> str:
    """Human-readable list of the resolutions ``name`` supports (for error messages)."""
    if name in RESNETS:
        return str(RESNETS[name][0])
    return f"multiples of {2 ** DCGAN_STAGES[name]}"


def check_resolution(name: str, resolution: int) -> None:
    if name in RESNETS:
        ok = resolution == RESNETS[name][0]
    else:
        step = 2 ** DCGAN_STAGES[name]
        ok = resolution >= step and resolution % step == 0
    if not ok:
        raise ConfigError(f"arch={name} does not support resolution {resolution}: "
                          f"it needs {supported_resolutions(name)}")


def apply_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral normalization on every conv / transposed conv / dense layer of ``net``."""
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    for m in layers:
        spectral_norm(m)
    return net


def build_image_models(arch_cfg, resolution: int, channels: int = 3,
                       dataset: str = "the dataset") -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator): generator(z [B, arch.z_dim]) -> images [B,C,R,R] in [-1,1]
    (tanh); discriminator(x [B,C,R,R]) -> logits [B], C = ``channels``. Raises
    gantrain.errors.ConfigError (one line) when the arch does not support `resolution` (e.g.
    resnet_v1 needs 32) or ``arch.channels`` is set to another number than ``channels``."""
    name = _get(arch_cfg, "name")
    if name not in IMAGE_ARCHS:
        raise ConfigError(f"arch={name!r} is not an image architecture; allowed: "
                          f"{', '.join(IMAGE_ARCHS)}")
    resnet = name in RESNETS
    halves = resnet or name == "dcgan4_resnet"
    filters = _int(arch_cfg, "filters", 64, 2 if halves else 1,
                   " (the ResBlocks use filters/2 channels)" if halves else "")
    extra = {k: _int(arch_cfg, k, 0, 0) for k in ("d_extra_dense", "g_extra_dense")}
    for key, value in extra.items():
        if resnet and value:
            raise ConfigError(f"arch.{key}={value} is invalid: arch={name} has no extra dense "
                              f"layer option; allowed: 0 (the DC-GAN style nets take it)")
    z_dim = _int(arch_cfg, "z_dim", 128, 1)
    d_filters = _get(arch_cfg, "d_filters", None)
    if d_filters is not None:
        d_filters = _int(arch_cfg, "d_filters", filters, 2 if halves else 1)
        if resnet:
            raise ConfigError(f"arch.d_filters={d_filters} is invalid: arch={name} has one width "
                              f"for G and D; allowed: null (the DC-GAN style nets take it)")
    sn = _bool(arch_cfg, "spectral_norm", False)
    init = _get(arch_cfg, "init", "xavier")
    if init not in INITS:
        raise ConfigError(f"arch.init={init!r} is invalid: allowed: {', '.join(INITS)}")
    if name in DCGAN_BATCH_NORM:
        batch_norm = _bool(arch_cfg, "batch_norm", DCGAN_BATCH_NORM[name])
    else:
        batch_norm = _bool(arch_cfg, "batch_norm", False)
        if batch_norm:
            raise ConfigError(f"arch.batch_norm=True is invalid: arch={name} has no batch-norm "
                              f"variant; allowed: false")
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise ConfigError(f"resolution={resolution!r} is invalid: must be an integer")
    check_resolution(name, resolution)
    wanted = _get(arch_cfg, "channels", None)
    if wanted is not None and wanted != channels:
        raise ConfigError(f"arch.channels={wanted!r} is invalid: {dataset} has {channels}-channel "
                          f"images; allowed: null (the dataset's) or {channels}")

    if resnet:
        g, d = build_resnet(name, filters, z_dim, channels)
    else:
        g, d = build_dcgan(name, filters, z_dim, resolution, batch_norm, channels, **extra,
                           d_filters=d_filters)
    init_weights(g, init)
    init_weights(d, init)
    if sn:
        apply_spectral_norm(d)
    return g, d
