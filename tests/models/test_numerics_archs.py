"""The Numerics of GANs image nets: the DC-GAN with ResNet layers (``dcgan4_resnet``, the code's
resnet_cf.py) and the extra dense layers (``d_extra_dense`` / ``g_extra_dense``, the code's
conv4.py), against forward passes and parameter counts written out here from the code, and
ConOpt / the smoothing optimizers through them against finite differences of the penalties."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from gantrain.errors import ConfigError
from gantrain.losses import gan_losses
from gantrain.models.dcgan import Residual
from gantrain.models.images import build_image_models
from tests.reference import FlatField


def arch(name, filters=4, z_dim=8, **extra):
    return {"name": name, "filters": filters, "z_dim": z_dim, **extra}


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layers(net: nn.Module) -> list[nn.Module]:
    """Conv / transposed conv / dense layers in the order they are applied."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]


# --- shapes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg,resolution", [
    (arch("dcgan4_resnet"), 16), (arch("dcgan4_resnet"), 32), (arch("dcgan4_resnet", filters=2), 64),
    (arch("dcgan4_const", d_extra_dense=32, g_extra_dense=16), 32),
    (arch("dcgan4", d_extra_dense=8), 16), (arch("dcgan3", d_extra_dense=8), 24),
    (arch("conv4", d_extra_dense=8), 8), (arch("dcgan4_nobn", g_extra_dense=8), 16),
])
def test_shapes_and_ranges(cfg, resolution):
    torch.manual_seed(0)
    g, d = build_image_models(cfg, resolution)
    x = g(3 * torch.randn(5, cfg["z_dim"]))
    assert x.shape == (5, 3, resolution, resolution)
    assert torch.isfinite(x).all() and x.abs().max() <= 1 and x.std() > 0
    assert d(x).shape == (5,) and torch.isfinite(d(x)).all()


# --- the extra dense layers ---------------------------------------------------------------------
def test_extra_dense_layer_in_the_discriminator():
    f, k, r = 4, 24, 32
    g0, d0 = build_image_models(arch("dcgan4_const", filters=f), r)
    g1, d1 = build_image_models(arch("dcgan4_const", filters=f, d_extra_dense=k), r)
    feat = (r // 16) ** 2 * f
    # one more layer: feat -> k (weights + biases), and the logit now reads k units, not feat
    assert count(d1) - count(d0) == feat * k + k + (k + 1) - (feat + 1)
    assert count(g1) == count(g0)                     # G untouched
    first, second = layers(d1)[-2:]
    assert (first.in_features, first.out_features, second.in_features) == (feat, k, 1 * k)
    # the logit is W2 lrelu_0.2(W1 h + b1) + b2 of the flattened conv features h
    x = torch.rand(3, 3, r, r) * 2 - 1
    captured = {}
    flatten = next(m for m in d1.modules() if isinstance(m, nn.Flatten))
    flatten.register_forward_hook(lambda m, i, o: captured.setdefault("h", o))
    out = d1(x)
    h = captured["h"]
    hidden = h @ first.weight.T + first.bias
    hidden = torch.where(hidden > 0, hidden, 0.2 * hidden)
    torch.testing.assert_close(out, (hidden @ second.weight.T + second.bias).squeeze(-1))


def test_extra_dense_layer_in_the_generator_is_the_codes_conv4():
    """conv4.py: dense z -> 512, lrelu, dense -> R/16 x R/16 x Mf, lrelu, deconvs (constant Mf)."""
    f, z, r, k = 64, 256, 32, 512
    g, d = build_image_models(arch("dcgan4_const", filters=f, z_dim=z, d_extra_dense=k,
                                   g_extra_dense=k), r)
    s = r // 16
    conv_ = lambda kk, a, b: kk * kk * a * b + b                                  # noqa: E731
    g_expected = (z * k + k) + (k * s * s * f + s * s * f) + 3 * conv_(5, f, f) + conv_(5, f, 3)
    d_expected = conv_(5, 3, f) + 3 * conv_(5, f, f) + (s * s * f * k + k) + (k + 1)
    assert (count(g), count(d)) == (g_expected, d_expected)
    first = list(g.children())[:3]
    assert isinstance(first[0], nn.Linear) and first[0].in_features == z
    assert isinstance(first[1], nn.LeakyReLU) and first[1].negative_slope == 0.2
    assert isinstance(first[2], nn.Linear) and first[2].in_features == k


@pytest.mark.parametrize("key", ["d_extra_dense", "g_extra_dense"])
def test_extra_dense_is_refused_where_it_does_not_apply(key):
    with pytest.raises(ConfigError, match=rf"arch\.{key}=8 is invalid: arch=resnet_v1"):
        build_image_models(arch("resnet_v1", **{key: 8}), 32)
    with pytest.raises(ConfigError, match=rf"arch\.{key}=-1 is invalid"):
        build_image_models(arch("dcgan4", **{key: -1}), 16)


# --- the DC-GAN with ResNet layers --------------------------------------------------------------
def _same_conv(x, conv, stride):
    k = conv.weight.shape[-1]
    total = max(k - stride, 0)
    lo, hi = total // 2, total - total // 2
    return F.conv2d(F.pad(x, (lo, hi, lo, hi)), conv.weight, conv.bias, stride=stride)


def _same_deconv(x, deconv):
    y = F.conv_transpose2d(x, deconv.weight, deconv.bias, stride=2)     # 5x5 s2: size 2n + 3
    return y[..., 1:-2, 1:-2]                                           # TF "SAME": crop 1 / 2


def lrelu(x):
    return F.leaky_relu(x, 0.2)


def resnet_cf_forward(g, d, z, x, f, r):
    """resnet_cf.py, written out: G and D from their layers' weights, in the code's order."""
    gl, dl = layers(g), layers(d)
    s = r // 16
    h = (z @ gl[0].weight.T + gl[0].bias).reshape(-1, f, s, s)
    i = 1
    for _ in range(3):
        h = _same_deconv(lrelu(h), gl[i])
        dh = _same_conv(lrelu(h), gl[i + 1], 1)
        h = h + 0.1 * _same_conv(lrelu(dh), gl[i + 2], 1)
        i += 3
    image = torch.tanh(_same_deconv(lrelu(h), gl[i]))
    h = x
    for stage in range(4):
        main, c1, c2 = dl[3 * stage:3 * stage + 3]
        h = _same_conv(h if stage == 0 else lrelu(h), main, 2)
        dh = _same_conv(lrelu(h), c1, 1)
        h = h + 0.1 * _same_conv(lrelu(dh), c2, 1)
    logit = lrelu(h.flatten(1)) @ dl[-1].weight.T + dl[-1].bias
    return image, logit.squeeze(-1)


def test_resnet_layers_follow_the_codes_resnet_cf():
    f, z_dim, r = 6, 5, 32
    torch.manual_seed(1)
    g, d = build_image_models(arch("dcgan4_resnet", filters=f, z_dim=z_dim), r)
    with torch.no_grad():       # non-zero biases, so that a dropped bias shows
        for m in layers(g) + layers(d):
            m.bias.normal_(0, 0.1)
    z, x = torch.randn(4, z_dim), torch.rand(4, 3, r, r) * 2 - 1
    image, logit = resnet_cf_forward(g, d, z, x, f, r)
    torch.testing.assert_close(g(z), image)
    torch.testing.assert_close(d(x), logit)
    # the residual structure itself: three ResNet layers in G, four in D, each h + 0.1·branch(h)
    assert sum(isinstance(m, Residual) for m in g.modules()) == 3
    assert sum(isinstance(m, Residual) for m in d.modules()) == 4
    hidden = [layers(res.branch)[0].out_channels for res in d.modules() if isinstance(res, Residual)]
    assert hidden == [f, f // 2, f // 2, f // 2]       # D's first layer keeps Mf, as the code
    res = next(m for m in g.modules() if isinstance(m, Residual))
    h = torch.randn(2, f, 4, 4)
    torch.testing.assert_close(res(h), res.main(h) + 0.1 * res.branch(res.main(h)))


def test_resnet_parameter_counts_at_the_papers_width():
    f, z, r = 64, 256, 32
    g, d = build_image_models(arch("dcgan4_resnet", filters=f, z_dim=z), r)
    conv_ = lambda k, a, b: k * k * a * b + b                                     # noqa: E731
    s = r // 16
    branch = lambda hid: conv_(3, f, hid) + conv_(3, hid, f)                      # noqa: E731
    g_expected = (z * s * s * f + s * s * f) + 3 * (conv_(5, f, f) + branch(f // 2)) + conv_(5, f, 3)
    d_expected = (conv_(5, 3, f) + branch(f) + 3 * (conv_(5, f, f) + branch(f // 2))
                  + s * s * f + 1)
    assert (count(g), count(d)) == (g_expected, d_expected)


def test_resnet_needs_two_filters():
    with pytest.raises(ConfigError, match=r"arch\.filters=1 is invalid: must be an integer >= 2"):
        build_image_models(arch("dcgan4_resnet", filters=1), 16)
    with pytest.raises(ConfigError, match="arch.batch_norm=True is invalid"):
        build_image_models(arch("dcgan4_resnet", batch_norm=True), 16)


# --- ConOpt and the smoothing optimizers through the new nets -----------------------------------
class Flat(FlatField):
    """(L_D, L_G) and the field v = (g_φ, g_θ) of (G, D) as functions of one float64 vector."""

    def __init__(self, g, d, x, z):
        self.g, self.d, self.x, self.z = g, d, x, z
        self.items = [(m, n, p.shape, p.numel()) for m, net in (("g", g), ("d", d))
                      for n, p in net.named_parameters()]
        self.buffers = {m: {n: b.detach().clone() for n, b in net.named_buffers()}
                        for m, net in (("g", g), ("d", d))}
        self.n_g = sum(p.numel() for p in g.parameters())
        self.w0 = torch.cat([p.detach().reshape(-1) for p in (*g.parameters(), *d.parameters())])

    def losses(self, w):
        params, offset = {"g": {}, "d": {}}, 0
        for m, n, shape, k in self.items:
            params[m][n] = w[offset:offset + k].reshape(shape)
            offset += k
        buf = {m: {n: b.clone() for n, b in bs.items()} for m, bs in self.buffers.items()}
        fake = functional_call(self.g, {**params["g"], **buf["g"]}, (self.z,))
        d_real = functional_call(self.d, {**params["d"], **buf["d"]}, (self.x,))
        d_fake = functional_call(self.d, {**params["d"], **buf["d"]}, (fake,))
        return gan_losses("standard", d_real, d_fake)


NEW_NETS = [
    pytest.param(arch("dcgan4_resnet", filters=2, z_dim=3), 16, id="dcgan4_resnet"),
    pytest.param(arch("dcgan4_const", filters=2, z_dim=3, d_extra_dense=5, g_extra_dense=4), 16,
                 id="dcgan4_const-dense"),
    pytest.param(arch("dcgan4", filters=1, z_dim=3, d_extra_dense=5), 16, id="dcgan4-bn-dense"),
]


@pytest.mark.parametrize("cfg,resolution", NEW_NETS)
def test_double_backprop_matches_finite_differences(cfg, resolution):
    """u = v + γ∇P with P = ½‖v‖² (conopt, conopt_d: θ rows only) or ½‖g_φ‖² (jare_d, θ rows):
    ⟨∇P, e⟩ by central differences of P along random directions e, in float64."""
    from gantrain.rules import build_rule

    torch.manual_seed(2)
    g, d = build_image_models(cfg, resolution)
    g, d = g.double().train(), d.double().train()
    rng = torch.Generator().manual_seed(3)
    x = torch.tanh(torch.randn(6, 3, resolution, resolution, generator=rng, dtype=torch.float64))
    z = torch.randn(6, cfg["z_dim"], generator=rng, dtype=torch.float64)
    flat = Flat(g, d, x, z)
    n_g, w0, gamma = flat.n_g, flat.w0, 10.0
    v0 = flat.v(w0)
    penalties = {"conopt": lambda v: 0.5 * v.pow(2).sum(),
                 "conopt_d": lambda v: 0.5 * v.pow(2).sum(),
                 "jare_d": lambda v: 0.5 * v[:n_g].pow(2).sum()}
    d_params, g_params = list(d.parameters()), list(g.parameters())
    # v jumps where a leaky ReLU's input crosses 0: a short step along a unit direction keeps
    # the finite differences on one linear piece
    eps = 1e-7
    for method, pen in penalties.items():
        losses = gan_losses("standard", d(x), d(g(z)))
        out = build_rule(method, gamma, {}).direction([losses], d_params, g_params)
        u = torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)]).detach()
        grad_pen = (u - v0) / gamma                    # what the rule added, per unit of γ
        if method != "conopt":                         # one-sided: G's rows are plain gradients
            assert grad_pen[:n_g].abs().max() < 1e-12
        rows = slice(0, None) if method == "conopt" else slice(n_g, None)
        for trial in range(3):
            e = torch.zeros_like(w0)
            e[rows] = torch.randn(e[rows].shape, generator=rng, dtype=torch.float64)
            e /= e.norm()
            fd = (pen(flat.v(w0 + eps * e)) - pen(flat.v(w0 - eps * e))) / (2 * eps)
            torch.testing.assert_close(grad_pen @ e, fd, rtol=1e-5, atol=1e-8)
        assert grad_pen.abs().max() > 1e-6, method     # the penalty reaches the parameters
