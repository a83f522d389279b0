"""Double backprop through spectral norm (SN-GAN, ``arch.spectral_norm=true``) against explicit
Hessians of a hand-written spectrally normalized discriminator, in float64 (docs/methods.md §2).

torch's spectral norm divides each weight by σ = uᵀ W v, where u, v are buffers: in train mode every
forward first runs one power iteration u ← W v/‖W v‖, v ← Wᵀu/‖Wᵀu‖ (in place, without gradient),
then uses the new u, v as constants; in eval mode it uses the stored u, v as they are. So L_D and
L_G are well-defined functions of the parameters only once the starting u, v and the order of the
discriminator's calls are fixed. The reference below starts from the same buffers, replays the
power iterations in the same order (D(real), then D(fake)) and differentiates W/σ with u, v held
constant, with its own conv/dense forward, so it shares neither torch's parametrization nor
gantrain's layer code.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from gantrain.losses import gan_losses
from gantrain.models.images import build_image_models
from gantrain.rules import RULES, build_rule
from gantrain.rules.simultaneous import SimultaneousRule
from tests.reference import FlatField, explicit_hessian_directions, split_flat

SIMULTANEOUS = sorted(n for n, c in RULES.items() if issubclass(c, SimultaneousRule))
GAMMA = 10.0          # the penalties well above the tolerance
RESOLUTION, Z_DIM = 8, 2
# dcgan3's discriminator at filters=1: three 5×5 stride-2 convs (TF "SAME": pad 1 before, 2
# after), leaky ReLU 0.2, dense to one logit; every weight spectrally normalized.
CONVS = ("0.1", "2.1", "4.1")
DENSE = "7"
LAYERS = (*CONVS, DENSE)


def build():
    torch.manual_seed(11)
    cfg = {"name": "dcgan3", "filters": 1, "z_dim": Z_DIM, "z_std": 1.0, "spectral_norm": True}
    g, d = build_image_models(cfg, RESOLUTION)
    g, d = g.double().train(), d.double().train()
    # Registration ran 15 power iterations; random unit u, v make the next iteration matter.
    gen = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for name, buf in d.named_buffers():
            buf.copy_(F.normalize(torch.randn(buf.shape, generator=gen, dtype=torch.float64),
                                  dim=0))
    rng = torch.Generator().manual_seed(13)
    x = torch.tanh(torch.randn(5, 3, RESOLUTION, RESOLUTION, generator=rng, dtype=torch.float64))
    z = torch.randn(5, Z_DIM, generator=rng, dtype=torch.float64)
    return g, d, x, z


def sn_buffers(d) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    bufs = dict(d.named_buffers())
    return {k: (bufs[f"{k}.parametrizations.weight.0._u"].detach().clone(),
                bufs[f"{k}.parametrizations.weight.0._v"].detach().clone()) for k in LAYERS}


class HandWrittenSN(FlatField):
    """L_D and L_G as functions of one flat vector w = (φ, θ), D written out by hand."""

    def __init__(self, g, d, x, z, train: bool):
        self.g, self.x, self.z, self.train = g, x, z, train
        self.g_items = [(n, p.shape, p.numel()) for n, p in g.named_parameters()]
        self.d_items = [(n, p.shape, p.numel()) for n, p in d.named_parameters()]
        self.n_g = sum(k for _, _, k in self.g_items)
        self.w0 = torch.cat([p.detach().reshape(-1) for p in (*g.parameters(), *d.parameters())])
        self.start = sn_buffers(d)
        assert {n for n, _, _ in self.d_items} == {
            f"{k}.{s}" for k in LAYERS for s in ("bias", "parametrizations.weight.original")}

    _split = staticmethod(split_flat)

    def normalized(self, weight, state):
        mat = weight.reshape(weight.shape[0], -1)
        u, v = state
        if self.train:            # one power iteration, no gradient, u first
            with torch.no_grad():
                u = F.normalize(mat @ v, dim=0, eps=1e-12)
                v = F.normalize(mat.T @ u, dim=0, eps=1e-12)
        sigma = u @ mat @ v
        return weight / sigma, (u, v)

    def discriminator(self, theta, x, state):
        h = x
        for k in CONVS:
            w, state[k] = self.normalized(theta[f"{k}.parametrizations.weight.original"], state[k])
            h = F.conv2d(F.pad(h, (1, 2, 1, 2)), w, theta[f"{k}.bias"], stride=2)
            h = F.leaky_relu(h, 0.2)
        w, state[DENSE] = self.normalized(theta[f"{DENSE}.parametrizations.weight.original"],
                                          state[DENSE])
        return (h.flatten(1) @ w.T + theta[f"{DENSE}.bias"]).squeeze(-1)

    def losses(self, w, final_state=None):
        phi = self._split(w, self.g_items, 0)
        theta = self._split(w, self.d_items, self.n_g)
        fake = functional_call(self.g, phi, (self.z,))
        state = dict(self.start)           # one replay per evaluation: real, then fake
        d_real = self.discriminator(theta, self.x, state)
        d_fake = self.discriminator(theta, fake, state)
        if final_state is not None:
            final_state.update(state)
        return gan_losses("standard", d_real, d_fake)


def reference_directions(flat: HandWrittenSN, gamma: float) -> dict[str, torch.Tensor]:
    return explicit_hessian_directions(flat.losses, flat.w0, flat.n_g, gamma)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_double_backprop_through_spectral_norm_matches_explicit_hessians(mode):
    g, d, x, z = build()
    d.train(mode == "train")
    flat = HandWrittenSN(g, d, x, z, train=mode == "train")
    expected = reference_directions(flat, GAMMA)
    replayed = {}
    flat.losses(flat.w0, replayed)
    d_params, g_params = list(d.parameters()), list(g.parameters())

    def direction(method):
        with torch.no_grad():              # every rule's forward starts from the same u, v
            for k, (u, v) in flat.start.items():
                layer = d.get_submodule(f"{k}.parametrizations.weight.0")
                layer._u.copy_(u)
                layer._v.copy_(v)
        losses = gan_losses("standard", d(x), d(g(z)))   # the rule's own forward
        out = build_rule(method, GAMMA, {}).direction([losses], d_params, g_params)
        return torch.cat([u.reshape(-1) for u in (*out.u_g, *out.u_d)])

    for method in SIMULTANEOUS:
        torch.testing.assert_close(direction(method), expected[method], atol=1e-6, rtol=1e-6)
        # torch's buffers end where the replay ended: one iteration per call (none in eval)
        for k, (u, v) in sn_buffers(d).items():
            torch.testing.assert_close(u, replayed[k][0], atol=1e-12, rtol=0)
            torch.testing.assert_close(v, replayed[k][1], atol=1e-12, rtol=0)
    n_g = flat.n_g
    for method in ("conopt", "jare"):   # the regularizers act on both players, above tolerance
        diff = (expected[method] - expected["simgd"]).abs()
        assert diff[:n_g].max() > 1e-3 and diff[n_g:].max() > 1e-3
    if mode == "train":
        # the power iterations matter: without them (σ from the starting u, v) the field differs
        frozen = HandWrittenSN(g, d, x, z, train=False)
        frozen.start = flat.start
        assert (frozen.v(flat.w0) - flat.v(flat.w0)).abs().max() > 1e-3
