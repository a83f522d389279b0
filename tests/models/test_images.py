"""Image architectures (docs/experiments.md §C-§D): shapes, ranges, parameter counts, resolution checks,
every update rule through every architecture (batch norm and spectral norm included), and double
backprop through batch norm against explicit Hessians in float64."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from gantrain.errors import ConfigError
from gantrain.games.base import Game
from gantrain.losses import gan_losses
from gantrain.models.dcgan import BatchNorm, conv, deconv
from gantrain.models.images import IMAGE_ARCHS, build_image_models
from gantrain.rules import RULES, build_rule
from gantrain.rules.simultaneous import SimultaneousRule
from tests.reference import FlatField, explicit_hessian_directions, split_flat

SIMULTANEOUS = sorted(n for n, c in RULES.items() if issubclass(c, SimultaneousRule))
NATIVE = {"resnet_v1": 32, "resnet_v2": 32, "resnet_celeba": 64, "resnet_imagenet": 128}
SMALLEST = {"conv4": 8, "conv4_nobn": 8, "dcgan3": 8, "dcgan4": 16, "dcgan4_const": 16,
            "dcgan4_nobn": 16, "dcgan4_resnet": 16, **NATIVE}
GAMMA = 0.7


def arch(name, filters=4, z_dim=8, **extra):
    return {"name": name, "filters": filters, "z_dim": z_dim, "z_std": 1.0,
            "spectral_norm": False, **extra}


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_option_list_and_the_yaml_files_agree():
    from gantrain.models import image_archs
    from tests.helpers import make_cfg

    assert set(image_archs()) == set(IMAGE_ARCHS)   # the registry and the builders agree
    assert set(IMAGE_ARCHS) == {"resnet_v1", "resnet_v2", "resnet_celeba", "resnet_imagenet",
                                "conv4", "conv4_nobn", "dcgan4_nobn", "dcgan4", "dcgan4_const",
                                "dcgan3", "dcgan4_resnet"}
    for name in IMAGE_ARCHS:   # composed as `arch=<name>` gives it: its yaml over the schema's defaults
        cfg = make_cfg("dataset=fake_images", f"arch={name}").arch
        assert cfg.name == name and cfg.filters == 64 and cfg.z_dim == 128
        assert cfg.z_std == 1.0 and cfg.spectral_norm is False and cfg.init == "xavier"
        g, d = build_image_models(cfg, SMALLEST[name])   # the composed section is a valid config


# --- shapes, ranges, resolutions ----------------------------------------------------------------
CASES = [(n, r) for n, r in NATIVE.items()] + [
    (n, r) for n in IMAGE_ARCHS if n not in NATIVE for r in (SMALLEST[n], 32, 64)]


@pytest.mark.parametrize("name,resolution", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_builds_with_the_right_shapes(name, resolution):
    torch.manual_seed(0)
    g, d = build_image_models(arch(name, filters=4, z_dim=8), resolution)
    z = 3 * torch.randn(5, 8)        # a wide z drives tanh towards its limits
    x = g(z)
    assert x.shape == (5, 3, resolution, resolution) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.abs().max() <= 1 and x.std() > 0
    logits = d(x)
    assert logits.shape == (5,) and torch.isfinite(logits).all()
    assert d(torch.rand(2, 3, resolution, resolution) * 2 - 1).shape == (2,)


def _resnet_count(f, z, start, up, out, down, res):
    h = f // 2
    block = lambda hid: 9 * f * hid + hid + 9 * hid * f + f                        # noqa: E731
    g = z * start * start * f + start * start * f + up * (16 * f * f + f + block(h))
    g += 16 * f * 3 + 3 if out == "deconv" else 9 * f * 3 + 3
    d = 16 * 3 * f + f + block(f) + (down - 1) * (16 * f * f + f + block(h))
    d += (res >> down) ** 2 * f + 1
    return g, d


def _expected_counts(name, f, z, r):
    """Parameter counts written out from the papers' code, independently of the builders."""
    if name.startswith("resnet"):
        table = {"resnet_v1": (2, 3, "deconv", 4), "resnet_v2": (4, 3, "conv", 4),
                 "resnet_celeba": (4, 4, "conv", 5), "resnet_imagenet": (4, 5, "conv", 6)}
        return _resnet_count(f, z, *table[name], r)
    conv_ = lambda k, a, b, bias=True: k * k * a * b + (b if bias else 0)          # noqa: E731
    if name in ("conv4", "conv4_nobn"):
        s = r // 8
        # BN layers drop the layer's bias and add their own (centre only): same count per layer
        g = z * s * s * 8 * f + s * s * 8 * f
        g += conv_(4, 8 * f, 4 * f) + conv_(4, 4 * f, 2 * f) + conv_(4, 2 * f, f) + conv_(3, f, 3)
        d = (conv_(3, 3, f) + conv_(4, f, f) + conv_(3, f, 2 * f) + conv_(4, 2 * f, 2 * f)
             + conv_(3, 2 * f, 4 * f) + conv_(4, 4 * f, 4 * f) + conv_(3, 4 * f, 8 * f))
        return g, d + s * s * 8 * f + 1
    if name in ("dcgan4", "dcgan4_const", "dcgan4_nobn"):
        m = [8, 4, 2, 1] if name == "dcgan4" else [1, 1, 1, 1]
        s = r // 16
        g = z * s * s * m[0] * f + (s * s * m[0] * f if name != "dcgan4" else m[0] * f)
        g += sum(conv_(5, a * f, b * f) for a, b in zip(m[:-1], m[1:])) + conv_(5, f, 3)
        ch = [3] + [k * f for k in m[::-1]]
        d = sum(conv_(5, a, b) for a, b in zip(ch[:-1], ch[1:])) + s * s * m[0] * f + 1
        return g, d
    if name == "dcgan3":
        s = r // 8
        g = z * s * s * 4 * f + s * s * 4 * f
        g += conv_(5, 4 * f, 2 * f) + conv_(5, 2 * f, f) + conv_(5, f, 3)
        d = conv_(5, 3, f) + conv_(5, f, 2 * f) + conv_(5, 2 * f, 4 * f) + s * s * 4 * f + 1
        return g, d
    if name == "dcgan4_resnet":          # Numerics resnet_cf.py
        s = r // 16
        branch = lambda hid: conv_(3, f, hid) + conv_(3, hid, f)                  # noqa: E731
        g = z * s * s * f + s * s * f + 3 * (conv_(5, f, f) + branch(f // 2)) + conv_(5, f, 3)
        d = conv_(5, 3, f) + branch(f) + 3 * (conv_(5, f, f) + branch(f // 2)) + s * s * f + 1
        return g, d
    raise AssertionError(name)


@pytest.mark.parametrize("name", IMAGE_ARCHS)
def test_parameter_counts_at_the_papers_width(name):
    r = NATIVE.get(name, 32)
    g, d = build_image_models(arch(name, filters=64, z_dim=128), r)
    assert (count(g), count(d)) == _expected_counts(name, 64, 128, r)
    if name == "resnet_v1":      # the numbers the report quotes
        assert (count(g), count(d)) == (343_779, 384_929)


def test_spectral_norm_and_batch_norm_switches():
    _, d = build_image_models(arch("dcgan4", spectral_norm=True), 16)
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 5 and all(hasattr(m, "parametrizations") for m in layers)
    g, _ = build_image_models(arch("dcgan4", spectral_norm=True), 16)
    assert not any(hasattr(m, "parametrizations") for m in g.modules())   # G is never normalized
    bn = lambda m: sum(isinstance(x, BatchNorm) for x in m.modules())        # noqa: E731
    assert [bn(m) for m in build_image_models(arch("dcgan4"), 16)] == [4, 3]
    assert [bn(m) for m in build_image_models(arch("dcgan4", batch_norm=False), 16)] == [0, 0]
    assert [bn(m) for m in build_image_models(arch("conv4"), 8)] == [5, 0]
    assert [bn(m) for m in build_image_models(arch("conv4_nobn"), 8)] == [0, 0]
    assert [bn(m) for m in build_image_models(arch("dcgan3"), 8)] == [0, 0]
    assert [bn(m) for m in build_image_models(arch("dcgan3", batch_norm=True), 8)] == [3, 2]
    assert [bn(m) for m in build_image_models(arch("dcgan4_const", batch_norm=True), 16)] == [4, 3]


@pytest.mark.parametrize("init,std", [("xavier", None), ("normal", 0.02)])
def test_initialisation(init, std):
    torch.manual_seed(0)
    g, _ = build_image_models(arch("conv4_nobn", filters=16, init=init), 32)
    w = g[0].weight                     # dense z → 4×4×128: Xavier-uniform bound √(6/(in+out))
    bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
    if std is None:
        assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    else:
        assert abs(w.std().item() - std) < 2e-3
    assert all((m.bias == 0).all() for m in g.modules()
               if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None)


@pytest.mark.parametrize("name,resolution", [
    ("resnet_v1", 64), ("resnet_v2", 16), ("resnet_celeba", 32), ("resnet_imagenet", 64),
    ("conv4", 12), ("conv4_nobn", 4), ("dcgan4", 24), ("dcgan4_nobn", 8), ("dcgan4_const", 40),
    ("dcgan3", 20)])
def test_unsupported_resolution_is_a_one_line_config_error(name, resolution):
    with pytest.raises(ConfigError) as e:
        build_image_models(arch(name), resolution)
    msg = str(e.value)
    assert "\n" not in msg and name in msg and str(resolution) in msg


@pytest.mark.parametrize("cfg,key", [
    (arch("resnet_v1", filters=1), "arch.filters"),
    (arch("dcgan4", filters=0), "arch.filters"),
    (arch("dcgan4", z_dim=0), "arch.z_dim"),
    (arch("resnet_v2", batch_norm=True), "arch.batch_norm"),
    (arch("dcgan4_nobn", batch_norm=True), "arch.batch_norm"),
    (arch("dcgan4", spectral_norm="yes"), "arch.spectral_norm"),
    (arch("dcgan4", init="kaiming"), "arch.init"),
    (arch("mlp"), "arch"),
])
def test_bad_arch_values_are_config_errors(cfg, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as e:
        build_image_models(cfg, 32)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kernel,stride", [(5, 2), (4, 2), (3, 1)])
def test_same_padding_follows_tensorflow(kernel, stride):
    """conv: TF "SAME" pads (k−s)//2 before and the rest after (5×5 s2: 1 before, 2 after);
    deconv is its adjoint, as tf.nn.conv2d_transpose is the gradient of tf.nn.conv2d."""
    torch.manual_seed(8)
    c = conv(2, 3, kernel, stride, bias=False).double()
    t = deconv(3, 2, kernel, stride, bias=False).double()
    w = torch.randn(3, 2, kernel, kernel, dtype=torch.float64)

    def inner(m):
        return next(x for x in m.modules() if isinstance(x, (nn.Conv2d, nn.ConvTranspose2d)))

    with torch.no_grad():
        inner(c).weight.copy_(w)
        inner(t).weight.copy_(w)
    x = torch.randn(2, 2, 8, 8, dtype=torch.float64)
    y = torch.randn(2, 3, 8 // stride, 8 // stride, dtype=torch.float64)
    lo = (kernel - stride) // 2
    hi = kernel - stride - lo
    expected = F.conv2d(F.pad(x, (lo, hi, lo, hi)), w, stride=stride)
    torch.testing.assert_close(c(x), expected)
    assert t(y).shape == x.shape
    torch.testing.assert_close((t(y) * x).sum(), (y * c(x)).sum())


# --- every rule through every architecture ------------------------------------------------------
class TinyImageGame(Game):
    """Random images in [-1, 1] and N(0, I) latents around one of the image architectures."""

    def __init__(self, cfg, resolution, dtype=torch.float32):
        super().__init__("standard", "cpu", dtype)
        self.resolution, self.z_dim = resolution, cfg["z_dim"]
        self.generator, self.discriminator = build_image_models(cfg, resolution)
        self._finish_init()

    def sample_real(self, n, rng):
        return torch.tanh(self.randn((n, 3, self.resolution, self.resolution), rng))

    def sample_z(self, n, rng):
        return self.randn((n, self.z_dim), rng)


VARIANTS = [pytest.param(arch(n), SMALLEST[n], id=n) for n in IMAGE_ARCHS] + [
    pytest.param(arch("dcgan3", batch_norm=True), 8, id="dcgan3-bn"),
    pytest.param(arch("dcgan4_const", batch_norm=True), 16, id="dcgan4_const-bn"),
    pytest.param(arch("resnet_v1", spectral_norm=True), 32, id="resnet_v1-sn"),
    pytest.param(arch("conv4", spectral_norm=True), 8, id="conv4-sn"),
    pytest.param(arch("dcgan4", spectral_norm=True), 16, id="dcgan4-bn-sn"),
]


@pytest.mark.slow
@pytest.mark.parametrize("cfg,resolution", VARIANTS)
def test_every_rule_gives_finite_directions_for_every_parameter(cfg, resolution):
    torch.manual_seed(1)
    game = TinyImageGame(cfg, resolution)
    x, z = game.sample_batch(4, torch.Generator().manual_seed(2))
    losses = game.losses(x, z)                 # one forward; the graph serves every rule
    d_params, g_params = game.d_params(), game.g_params()
    directions = {}
    for method in SIMULTANEOUS:
        out = build_rule(method, GAMMA, {}).direction([losses], d_params, g_params)
        for us, ps in ((out.u_d, d_params), (out.u_g, g_params)):
            assert len(us) == len(ps)
            for u, p in zip(us, ps):
                assert isinstance(u, torch.Tensor) and u.shape == p.shape
                assert torch.isfinite(u).all(), method
        assert all(torch.isfinite(v) for v in out.stats.values())
        directions[method] = torch.cat([u.reshape(-1) for u in (*out.u_g, *out.u_d)])
    for method in SIMULTANEOUS:
        if method != "simgd":   # every regularizer reaches the parameters
            assert (directions[method] - directions["simgd"]).abs().max() > 0, method

    # a whole training step of each kind: alternating, and a regularized simultaneous one
    for method in ("altgd", "jare"):
        before = [p.detach().clone() for p in (*g_params, *d_params)]
        opt_d = torch.optim.SGD(d_params, lr=1e-2)
        opt_g = torch.optim.SGD(g_params, lr=1e-2)
        stats = build_rule(method, GAMMA, {}).train_step(game, opt_d, opt_g, 4,
                                                         torch.Generator().manual_seed(3))
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in stats.values())
        after = [p.detach() for p in (*g_params, *d_params)]
        assert all(torch.isfinite(p).all() for p in after)
        assert any((a != b).any() for a, b in zip(after, before))


def test_spectral_norm_jare_differs_from_simgd():
    torch.manual_seed(4)
    game = TinyImageGame(arch("resnet_v2", spectral_norm=True), 32)
    x, z = game.sample_batch(4, torch.Generator().manual_seed(5))
    losses = game.losses(x, z)
    flat = {}
    for method in ("simgd", "jare"):
        out = build_rule(method, 10.0, {}).direction([losses], game.d_params(), game.g_params())
        flat[method] = torch.cat([u.reshape(-1) for u in (*out.u_g, *out.u_d)])
        assert torch.isfinite(flat[method]).all()
    n_g = sum(p.numel() for p in game.g_params())
    diff = (flat["jare"] - flat["simgd"]).abs()
    assert diff[:n_g].max() > 0 and diff[n_g:].max() > 0     # both players are regularized
    # D's trainable weights are the un-normalized originals of the parametrization
    names = [n for n, _ in game.discriminator.named_parameters()]
    assert any(n.endswith("parametrizations.weight.original") for n in names)


# --- double backprop through batch norm, against explicit Hessians ------------------------------
class Flat(FlatField):
    """L_D and L_G of (G, D) as functions of one flat float64 vector w = (φ, θ).

    The modules are called through ``functional_call`` with fresh copies of their buffers, so batch
    norm's running statistics (updated by every train-mode forward) never change between calls;
    in train mode they do not enter the output anyway.
    """

    def __init__(self, g, d, x, z):
        self.g, self.d, self.x, self.z = g, d, x, z
        self.g_items = [(n, p.shape, p.numel()) for n, p in g.named_parameters()]
        self.d_items = [(n, p.shape, p.numel()) for n, p in d.named_parameters()]
        self.g_buffers = {n: b.detach().clone() for n, b in g.named_buffers()}
        self.d_buffers = {n: b.detach().clone() for n, b in d.named_buffers()}
        self.n_g = sum(k for _, _, k in self.g_items)
        self.w0 = torch.cat([p.detach().reshape(-1) for p in (*g.parameters(), *d.parameters())])

    _split = staticmethod(split_flat)

    def _buffers(self, which):
        return {n: b.clone() for n, b in which.items()}

    def losses(self, w):
        pg = self._split(w, self.g_items, 0)
        pd = self._split(w, self.d_items, self.n_g)
        fake = functional_call(self.g, {**pg, **self._buffers(self.g_buffers)}, (self.z,))
        d_real = functional_call(self.d, {**pd, **self._buffers(self.d_buffers)}, (self.x,))
        d_fake = functional_call(self.d, {**pd, **self._buffers(self.d_buffers)}, (fake,))
        return gan_losses("standard", d_real, d_fake)


def reference_directions(flat: Flat, gamma: float) -> dict[str, torch.Tensor]:
    return explicit_hessian_directions(flat.losses, flat.w0, flat.n_g, gamma)


@pytest.mark.slow
@pytest.mark.parametrize("cfg,resolution", [
    pytest.param(arch("conv4", filters=1, z_dim=2), 8, id="conv4-bn-in-G"),
    pytest.param(arch("dcgan3", filters=1, z_dim=2, batch_norm=True), 8, id="dcgan3-bn-in-G-and-D"),
])
def test_double_backprop_through_batch_norm_matches_explicit_hessians(cfg, resolution):
    torch.manual_seed(6)
    g, d = build_image_models(cfg, resolution)
    g, d = g.double().train(), d.double().train()
    # give the BN biases and running statistics non-trivial values
    with torch.no_grad():
        for m in (*g.modules(), *d.modules()):
            if isinstance(m, BatchNorm):
                m.bias.normal_(0, 0.3)
                if m.norm.running_mean is not None:
                    m.norm.running_mean.normal_()
                    m.norm.running_var.uniform_(0.5, 2)
    rng = torch.Generator().manual_seed(7)
    x = torch.tanh(torch.randn(6, 3, resolution, resolution, generator=rng, dtype=torch.float64))
    z = torch.randn(6, 2, generator=rng, dtype=torch.float64)
    gamma = 10.0                               # the penalties well above the tolerance
    expected = reference_directions(Flat(g, d, x, z), gamma)

    d_params, g_params = list(d.parameters()), list(g.parameters())

    def direction(method):
        losses = gan_losses("standard", d(x), d(g(z)))   # the rule's own forward
        out = build_rule(method, gamma, {}).direction([losses], d_params, g_params)
        return torch.cat([u.reshape(-1) for u in (*out.u_g, *out.u_d)])

    running = [b.clone() for b in d.buffers()]
    for method in SIMULTANEOUS:
        torch.testing.assert_close(direction(method), expected[method], atol=1e-6, rtol=1e-6)
    for method in ("conopt", "jare"):   # the regularizers act, far above the tolerance
        assert (expected[method] - expected["simgd"]).abs().max() > 1e-3
    if running:
        # every forward updated the running statistics without changing the train-mode result ...
        assert any((a != b).any() for a, b in zip(running, d.buffers()))
        # ... and the reference really differentiates through the batch statistics: with the
        # running statistics (eval mode) the directions are different
        g.eval(), d.eval()
        assert (direction("jare") - expected["jare"]).abs().max() > 1e-2


def test_batch_norm_layers_normalize_with_batch_statistics_in_train_mode():
    bn = BatchNorm(3, 2)
    with torch.no_grad():
        bn.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    y = bn(5 + 3 * torch.randn(16, 3, 4, 4))
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), bn.bias.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3),
                               atol=1e-3, rtol=1e-3)   # ε = 1e-3 (slim's default)
    assert not any(n.endswith("weight") for n, _ in bn.named_parameters())   # centred, not scaled
    g, _ = build_image_models(arch("conv4"), 8)        # JARE's conv4 G: batch statistics always
    assert all(m.norm.running_mean is None for m in g.modules() if isinstance(m, BatchNorm))
    g.eval()
    out = g(torch.randn(4, 8))
    assert torch.isfinite(out).all()
    copy.deepcopy(g)                                   # the EMA copies the generator
