"""DC-GAN style image players of the two papers' released TensorFlow code (docs/experiments.md §C), and
the TF-like layers that the ResNets share.

Architectures (Mf = ``filters``, R = resolution, "deconv" = transposed convolution, every
convolution TensorFlow-"SAME"-padded, G ends in tanh, D in a dense layer to one logit):

- ``conv4`` / ``conv4_nobn`` (JARE ``real/models/conv4*.py``): G dense → R/8×R/8×8Mf, ReLU, three
  4×4 s2 deconvs (4Mf, 2Mf, Mf) with ReLU, 3×3 conv → 3. With ``batch_norm`` every G layer,
  the last conv included, is batch-normalized (the code's ``slim.batch_norm`` after each layer).
  D: seven convs alternating 3×3 s1 and 4×4 s2 (Mf, Mf, 2Mf, 2Mf, 4Mf, 4Mf, 8Mf), leaky ReLU 0.1
  (JARE's ``lrelu``), dense; never batch norm.
- ``dcgan4_nobn`` (JARE ``dcgan4_nobn.py``): constant Mf filters, 5×5 s2 kernels; G dense →
  R/16×R/16×Mf, ReLU, three deconvs Mf with ReLU, deconv → 3; D four convs Mf, leaky ReLU 0.1.
  Not the same as ``dcgan4 batch_norm=false`` (the Numerics net, whose filters double).
- ``dcgan4`` (Numerics ``dcgan4.py``; ``batch_norm=false`` is its ``dcgan4_nobn.py``): 5×5 s2;
  G dense → R/16×R/16×8Mf, leaky ReLU 0.2, deconvs 4Mf, 2Mf, Mf with leaky ReLU 0.2, deconv → 3;
  D convs Mf, 2Mf, 4Mf, 8Mf with leaky ReLU 0.2. Batch norm: G after the dense layer (per
  channel) and the three hidden deconvs; D after convs 2-4.
- ``dcgan4_const`` (Numerics ``dcgan4_nobn_cf.py``): ``dcgan4`` with constant Mf filters, no batch
  norm by default (``batch_norm=true`` puts it where ``dcgan4`` has it).
- ``dcgan3`` (Numerics ``dcgan3_nobn.py``, the 3-layer net of the Inception-score runs;
  ``batch_norm=true`` is ``dcgan3.py``): G dense → R/8×R/8×4Mf, ReLU, deconvs 2Mf, Mf with ReLU,
  deconv → 3; D convs Mf, 2Mf, 4Mf, leaky ReLU 0.2. Batch norm: G after the dense layer (per
  unit) and the two hidden deconvs; D after convs 2-3.
- ``dcgan4_resnet`` (Numerics ``resnet_cf.py``, the "DC-GAN with ResNet layers" of the Numerics
  supplement's Fig. 10): constant Mf filters, no batch norm, leaky ReLU 0.2 before every layer.
  G dense → R/16×R/16×Mf (no activation), then three stages h ← deconv5×5s2(lrelu h);
  h ← h + 0.1·conv3×3(lrelu conv3×3_{Mf/2}(lrelu h)), then deconv5×5s2(lrelu h) → 3. D four
  stages h ← conv5×5s2(h) (lrelu before it from stage 2 on), h ← h + 0.1·conv3×3(lrelu
  conv3×3(lrelu h)) with a hidden width of Mf in stage 1 and Mf/2 after, dense(lrelu h) → 1.

Extra dense layers (all DC-GAN style nets): ``d_extra_dense=k`` puts a k-unit dense layer with the
net's D activation between D's flattened features and its logit, ``g_extra_dense=k`` one after z
with the G activation. The Numerics code's ``conv4.py`` (its Fig. 8 net, "an additional fully
connected layer") is ``dcgan4_const`` with both at 512.

Batch norm is ``slim.batch_norm`` with its defaults, as both codes call it: centred (a learnable
bias), not scaled (no γ), ε = 1e-3; a layer feeding it has no bias of its own (the batch mean would
cancel it). JARE's ``conv4`` never passes ``is_training`` to its batch norm, so its generator
normalizes with batch statistics even when sampling (no running statistics here either); the
Numerics nets keep moving averages with decay 0.999 (``momentum=1e-3``) and use them in eval mode.
Each call of D normalizes its own batch, so real and generated images are normalized separately,
as in both codes.

Initialisation: slim's defaults, which both codes use: Xavier(Glorot)-uniform weights, zero biases
(``init=normal`` gives the DC-GAN paper's N(0, 0.02) instead).
"""
from __future__ import annotations

import torch
from torch import nn

INITS = ("xavier", "normal")


# --- layers ------------------------------------------------------------------------------------
def _same_pads(kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) for an input size divisible by the stride."""
    total = max(kernel - stride, 0)
    return total // 2, total - total // 2


class Crop2d(nn.Module):
    """Drop ``before`` rows/columns at the top/left and ``after`` at the bottom/right."""

    def __init__(self, before: int, after: int):
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return x[..., self.before:h - self.after, self.before:w - self.after]

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}"


def conv(cin: int, cout: int, kernel: int, stride: int, bias: bool = True) -> nn.Module:
    """Conv2d with TF "SAME" padding: output size = input size / stride."""
    lo, hi = _same_pads(kernel, stride)
    if lo == hi:
        return nn.Conv2d(cin, cout, kernel, stride, padding=lo, bias=bias)
    return nn.Sequential(nn.ZeroPad2d((lo, hi, lo, hi)),
                         nn.Conv2d(cin, cout, kernel, stride, bias=bias))


def deconv(cin: int, cout: int, kernel: int, stride: int, bias: bool = True) -> nn.Module:
    """ConvTranspose2d with TF "SAME" padding (the adjoint of :func:`conv`): size × stride."""
    lo, hi = _same_pads(kernel, stride)
    if lo == hi:
        return nn.ConvTranspose2d(cin, cout, kernel, stride, padding=lo, bias=bias)
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel, stride, bias=bias), Crop2d(lo, hi))


class BatchNorm(nn.Module):
    """``slim.batch_norm`` defaults: normalize, then add a learnable per-feature bias (no scale).

    ``dims`` 1 normalizes each unit of a [B, C] input, 2 each channel of [B, C, H, W].
    ``running_stats=False`` always uses batch statistics (JARE's conv4 generator).
    """

    def __init__(self, features: int, dims: int, running_stats: bool = True):
        super().__init__()
        cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.norm = cls(features, eps=1e-3, momentum=1e-3, affine=False,
                        track_running_stats=running_stats)
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) + self.bias.view(1, -1, *[1] * (x.dim() - 2))


class Squeeze(nn.Module):
    """[B, 1] → [B]: one logit per image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)


def act(kind: str) -> nn.Module:
    """``relu``, ``lrelu0.1`` (JARE's ``lrelu``) or ``lrelu0.2`` (the Numerics code's)."""
    return nn.ReLU() if kind == "relu" else nn.LeakyReLU(float(kind[len("lrelu"):]))


def init_weights(net: nn.Module, scheme: str) -> None:
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "xavier":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, BatchNorm):
            nn.init.zeros_(m.bias)


# --- the architectures ---------------------------------------------------------------------------
# Per architecture: number of stride-2 stages (the resolution must be a multiple of 2**stages),
# whether it has a batch_norm switch and its default.
DCGAN_STAGES = {"conv4": 3, "conv4_nobn": 3, "dcgan4_nobn": 4, "dcgan4": 4, "dcgan4_const": 4,
                "dcgan3": 3, "dcgan4_resnet": 4}
DCGAN_BATCH_NORM = {"conv4": True, "conv4_nobn": False, "dcgan4": True, "dcgan4_const": False,
                    "dcgan3": False}   # dcgan4_nobn has no switch


def _head(z_dim: int, side: int, channels: int, bn: str | None, activation: str,
          running_stats: bool = True) -> list[nn.Module]:
    """Dense z → side×side×channels; ``bn`` "unit" (before the reshape) or "channel" (after)."""
    layers: list[nn.Module] = [nn.Linear(z_dim, side * side * channels, bias=bn is None)]
    if bn == "unit":
        layers.append(BatchNorm(side * side * channels, 1, running_stats))
    layers.append(nn.Unflatten(1, (channels, side, side)))
    if bn == "channel":
        layers.append(BatchNorm(channels, 2, running_stats))
    layers.append(act(activation))
    return layers


def _deconv_stages(channels: list[int], kernel: int, bn: bool, activation: str,
                   running_stats: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for cin, cout in zip(channels[:-1], channels[1:]):
        layers.append(deconv(cin, cout, kernel, 2, bias=not bn))
        if bn:
            layers.append(BatchNorm(cout, 2, running_stats))
        layers.append(act(activation))
    return layers


def _conv_stages(channels: list[int], kernel: int, bn_from: int | None,
                 activation: str) -> list[nn.Module]:
    """Stride-2 convs; layers with index >= ``bn_from`` are batch-normalized."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
        bn = bn_from is not None and i >= bn_from
        layers.append(conv(cin, cout, kernel, 2, bias=not bn))
        if bn:
            layers.append(BatchNorm(cout, 2))
        layers.append(act(activation))
    return layers


def _tail(side: int, channels: int, extra_dense: int = 0, activation: str = "lrelu0.2",
          pre_activation: str | None = None) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Flatten()]
    if pre_activation:
        layers.append(act(pre_activation))
    width = side * side * channels
    if extra_dense:
        layers += [nn.Linear(width, extra_dense), act(activation)]
        width = extra_dense
    return layers + [nn.Linear(width, 1), Squeeze()]


class Residual(nn.Module):
    """``h = main(x); h + scale · branch(h)``: the Numerics code's ResNet layer (scale 0.1)."""

    def __init__(self, main: nn.Module, branch: nn.Module, scale: float = 0.1):
        super().__init__()
        self.main, self.branch, self.scale = main, branch, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.main(x)
        return h + self.scale * self.branch(h)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def _branch(f: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(act("lrelu0.2"), conv(f, hidden, 3, 1), act("lrelu0.2"),
                         conv(hidden, f, 3, 1))


def _resnet_cf(f: int, c: int, z_dim: int, s: int, d_extra_dense: int, fd: int):
    """Numerics ``resnet_cf.py`` (see the module docstring); every layer has a bias (no BN)."""
    lrelu = lambda: act("lrelu0.2")  # noqa: E731
    g: list[nn.Module] = [nn.Linear(z_dim, s * s * f), nn.Unflatten(1, (f, s, s))]
    for _ in range(3):
        g.append(Residual(nn.Sequential(lrelu(), deconv(f, f, 5, 2)), _branch(f, f // 2)))
    g += [lrelu(), deconv(f, c, 5, 2)]
    d: list[nn.Module] = []
    for i in range(4):
        main = conv(c if i == 0 else fd, fd, 5, 2)
        d.append(Residual(main if i == 0 else nn.Sequential(lrelu(), main),
                          _branch(fd, fd if i == 0 else fd // 2)))
    d += _tail(s, fd, d_extra_dense, "lrelu0.2", pre_activation="lrelu0.2")
    return g, d


def build_dcgan(name: str, filters: int, z_dim: int, resolution: int, batch_norm: bool,
                channels: int = 3, d_extra_dense: int = 0, g_extra_dense: int = 0,
                d_filters: int | None = None) -> tuple[nn.Sequential, nn.Sequential]:
    """(G, D) of one of the DC-GAN style nets; the caller has checked the arguments.
    ``d_filters`` is D's Mf (None: ``filters``, as both papers' nets have it)."""
    g_act = {"conv4": "relu", "conv4_nobn": "relu", "dcgan4_nobn": "relu", "dcgan3": "relu"}.get(
        name, "lrelu0.2")
    d_act = "lrelu0.1" if name in ("conv4", "conv4_nobn", "dcgan4_nobn") else "lrelu0.2"
    g, d = _build_dcgan(name, filters, z_dim, resolution, batch_norm, channels, d_extra_dense,
                        d_act, g_extra_dense or z_dim, d_filters or filters)
    if g_extra_dense:
        g = [nn.Linear(z_dim, g_extra_dense), act(g_act)] + g
    return nn.Sequential(*g, nn.Tanh()), nn.Sequential(*d)


def _build_dcgan(name: str, filters: int, z_dim: int, resolution: int, batch_norm: bool,
                 channels: int, d_extra_dense: int, d_act: str, g_in: int, d_filters: int):
    f, c, r, fd = filters, channels, resolution, d_filters
    z_dim = g_in        # G's first layer reads z, or the extra dense layer's output
    if name in ("conv4", "conv4_nobn"):
        s = r // 8
        g = _head(z_dim, s, 8 * f, "unit" if batch_norm else None, "relu", running_stats=False)
        g += _deconv_stages([8 * f, 4 * f, 2 * f, f], 4, batch_norm, "relu", running_stats=False)
        g.append(conv(f, c, 3, 1, bias=not batch_norm))
        if batch_norm:
            g.append(BatchNorm(c, 2, running_stats=False))
        d: list[nn.Module] = []
        widths = [c, fd, fd, 2 * fd, 2 * fd, 4 * fd, 4 * fd, 8 * fd]
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            k, stride = (3, 1) if i % 2 == 0 else (4, 2)
            d += [conv(cin, cout, k, stride), act("lrelu0.1")]
        d += _tail(s, 8 * fd, d_extra_dense, d_act)
    elif name == "dcgan4_nobn":
        s = r // 16
        g = _head(z_dim, s, f, None, "relu")
        g += _deconv_stages([f, f, f, f], 5, False, "relu")
        g.append(deconv(f, c, 5, 2))
        d = _conv_stages([c, fd, fd, fd, fd], 5, None, "lrelu0.1") + _tail(s, fd, d_extra_dense, d_act)
    elif name in ("dcgan4", "dcgan4_const"):
        s = r // 16
        m = [8, 4, 2, 1] if name == "dcgan4" else [1, 1, 1, 1]
        g = _head(z_dim, s, m[0] * f, "channel" if batch_norm else None, "lrelu0.2")
        g += _deconv_stages([k * f for k in m], 5, batch_norm, "lrelu0.2")
        g.append(deconv(f, c, 5, 2))
        d = _conv_stages([c] + [k * fd for k in m[::-1]], 5, 1 if batch_norm else None, "lrelu0.2")
        d += _tail(s, m[0] * fd, d_extra_dense, d_act)
    elif name == "dcgan3":
        s = r // 8
        g = _head(z_dim, s, 4 * f, "unit" if batch_norm else None, "relu")
        g += _deconv_stages([4 * f, 2 * f, f], 5, batch_norm, "relu")
        g.append(deconv(f, c, 5, 2))
        d = _conv_stages([c, fd, 2 * fd, 4 * fd], 5, 1 if batch_norm else None, "lrelu0.2")
        d += _tail(s, 4 * fd, d_extra_dense, d_act)
    elif name == "dcgan4_resnet":
        g, d = _resnet_cf(f, c, z_dim, r // 16, d_extra_dense, fd)
    else:
        raise ValueError(f"not a DC-GAN style arch: {name!r}")
    return g, d
