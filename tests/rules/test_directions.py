"""Every rule's update direction against an independent computation, in float64 (docs/methods.md §2).

The reference builds the full Hessians of L_D and L_G with torch.autograd.functional on a flat
parameter vector, so it shares no code with the rules; ConOpt and JARE are also checked against
central finite differences of the squared gradient norms. The unbiased estimate (two half-batches
A, B, regularizer ½⟨v_A, v_B⟩, docs/methods.md §3) gets its own reference from the two halves' Hessians.
"""
from __future__ import annotations

import functools

import pytest
import torch
from torch.func import functional_call

from gantrain.config import validate
from gantrain.games import build_game
from gantrain.rules import RULES, build_rule
from gantrain.rules.simultaneous import SimultaneousRule
from tests.helpers import make_cfg
from tests.reference import FlatField

SIMULTANEOUS = sorted(n for n, c in RULES.items() if issubclass(c, SimultaneousRule))
GAMMA = 0.7


def tiny_game(loss: str, dataset: str = "mog"):
    over = ["dtype=float64", f"loss={loss}"]
    if dataset == "mog":
        over += ["arch.depth=2", "arch.width=5", "arch.z_dim=3", "dataset.modes=3"]
    else:
        over += ["dataset=gaussian", "dataset.mu=1.5", "dataset.sigma=0.7", "dataset.dim=2",
                 f"loss={loss}"]
    cfg = make_cfg(*over)
    torch.manual_seed(3)
    game = build_game(validate(cfg), dtype=torch.float64)
    rng = torch.Generator().manual_seed(5)
    x, z = game.sample_batch(6, rng)
    return game, x, z


class Flat(FlatField):
    """The game's losses as functions of one flat vector w = (φ, θ)."""

    def __init__(self, game, x, z):
        self.game, self.x, self.z = game, x, z
        self.g_names = [n for n, _ in game.generator.named_parameters()]
        self.d_names = [n for n, _ in game.discriminator.named_parameters()]
        self.g_shapes = [p.shape for p in game.g_params()]
        self.d_shapes = [p.shape for p in game.d_params()]
        self.n_g = sum(p.numel() for p in game.g_params())
        self.w0 = torch.cat([p.detach().reshape(-1) for p in (*game.g_params(), *game.d_params())])

    def split(self, w, names, shapes, offset):
        out, i = {}, offset
        for n, s in zip(names, shapes):
            k = s.numel()
            out[n] = w[i:i + k].reshape(s)
            i += k
        return out

    def losses(self, w):
        from gantrain.losses import gan_losses

        pg = self.split(w, self.g_names, self.g_shapes, 0)
        pd = self.split(w, self.d_names, self.d_shapes, self.n_g)
        fake = functional_call(self.game.generator, pg, (self.z,))
        d_real = functional_call(self.game.discriminator, pd, (self.x,))
        d_fake = functional_call(self.game.discriminator, pd, (fake,))
        return gan_losses(self.game.loss, d_real, d_fake)


def reference_direction(method: str, flat: Flat, gamma: float) -> torch.Tensor:
    w, n_g = flat.w0, flat.n_g
    h_d = torch.autograd.functional.hessian(lambda w: flat.losses(w)[0], w)
    h_g = torch.autograd.functional.hessian(lambda w: flat.losses(w)[1], w)
    v = flat.v(w)
    jac = torch.cat([h_g[:n_g], h_d[n_g:]])          # ∂v/∂w, rows (φ, θ)
    g, d = slice(0, n_g), slice(n_g, None)
    full = jac.T @ v                                  # ∇ ½‖v‖² = Jᵀv
    cross_g = jac[d, g].T @ v[d]                      # ∇_φ ½‖g_θ‖²
    cross_d = jac[g, d].T @ v[g]                      # ∇_θ ½‖g_φ‖²
    pen = {"simgd": (0, 0), "conopt": (full[g], full[d]), "jare": (cross_g, cross_d),
           "conopt_g": (full[g], 0), "conopt_d": (0, full[d]),
           "jare_g": (cross_g, 0), "jare_d": (0, cross_d)}[method]
    return torch.cat([v[g] + gamma * pen[0] * torch.ones(n_g, dtype=w.dtype),
                      v[d] + gamma * pen[1] * torch.ones(len(w) - n_g, dtype=w.dtype)])


def reference_unbiased_directions(flat_a: Flat, flat_b: Flat, gamma: float) -> dict:
    """The direction for R = ½⟨v_A, v_B⟩ of half-batches A and B, from explicit Hessians:
    ∇R = ½(J_Aᵀ v_B + J_Bᵀ v_A) (ConOpt; JARE keeps only the cross blocks), and the plain part
    is the mean of the two halves' gradients."""
    w, n_g = flat_a.w0, flat_a.n_g
    g, d = slice(0, n_g), slice(n_g, None)

    def v_and_jac(flat):
        h_d = torch.autograd.functional.hessian(lambda w: flat.losses(w)[0], w)
        h_g = torch.autograd.functional.hessian(lambda w: flat.losses(w)[1], w)
        return flat.v(w), torch.cat([h_g[:n_g], h_d[n_g:]])

    (v_a, j_a), (v_b, j_b) = v_and_jac(flat_a), v_and_jac(flat_b)
    full = 0.5 * (j_a.T @ v_b + j_b.T @ v_a)
    cross_g = 0.5 * (j_a[d, g].T @ v_b[d] + j_b[d, g].T @ v_a[d])   # ∇_φ ½⟨g_θ,A, g_θ,B⟩
    cross_d = 0.5 * (j_a[g, d].T @ v_b[g] + j_b[g, d].T @ v_a[g])   # ∇_θ ½⟨g_φ,A, g_φ,B⟩
    zero_g, zero_d = torch.zeros(n_g, dtype=w.dtype), torch.zeros(len(w) - n_g, dtype=w.dtype)
    pen = {"conopt": (full[g], full[d]), "jare": (cross_g, cross_d),
           "conopt_g": (full[g], zero_d), "conopt_d": (zero_g, full[d]),
           "jare_g": (cross_g, zero_d), "jare_d": (zero_g, cross_d)}
    plain = 0.5 * (v_a + v_b)
    return {m: torch.cat([plain[g] + gamma * pg, plain[d] + gamma * pd])
            for m, (pg, pd) in pen.items()}


def rule_direction(method: str, game, x, z, gamma: float, zero_sum: bool) -> torch.Tensor:
    rule = build_rule(method, gamma, {})
    out = rule.direction([game.losses(x, z)], game.d_params(), game.g_params(), zero_sum=zero_sum)
    return torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)])


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["standard", "minimax", "wgan", "hinge"])
@pytest.mark.parametrize("method", SIMULTANEOUS)
def test_direction_matches_explicit_hessians(method, loss):
    game, x, z = tiny_game(loss)
    expected = reference_direction(method, Flat(game, x, z), GAMMA)
    got = rule_direction(method, game, x, z, GAMMA, zero_sum=game.zero_sum)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    if method != "simgd":  # the regularizer really acts
        assert (got - rule_direction("simgd", game, x, z, GAMMA, False)).abs().max() > 1e-4


REGULARIZED = [m for m in SIMULTANEOUS if m != "simgd"]


def halves_of(x, z):
    h = x.shape[0] // 2
    return [(x[:h], z[:h]), (x[h:], z[h:])]


@functools.cache
def unbiased_reference(loss: str) -> dict:   # the Hessians once per loss, for every rule
    game, x, z = tiny_game(loss)
    return reference_unbiased_directions(*(Flat(game, *xz) for xz in halves_of(x, z)), GAMMA)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["standard", "minimax", "wgan", "hinge"])
@pytest.mark.parametrize("method", REGULARIZED)
def test_unbiased_direction_matches_explicit_hessians(method, loss):
    game, x, z = tiny_game(loss)
    halves = halves_of(x, z)
    expected = unbiased_reference(loss)[method]
    rule = build_rule(method, GAMMA, {"regularizer_estimate": "unbiased"})
    out = rule.direction([game.losses(*xz) for xz in halves], game.d_params(), game.g_params(),
                         zero_sum=game.zero_sum)
    got = torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)])
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    # the halves really differ: the unbiased estimate is not the same-batch one on either half
    for xz in halves:
        same = rule_direction(method, game, *xz, GAMMA, zero_sum=False)
        assert (got - same).abs().max() > 1e-4


@pytest.mark.parametrize("method", SIMULTANEOUS)
def test_direction_on_gaussian_game(method):
    game, x, z = tiny_game("minimax", dataset="gaussian")
    game.generator.phi.data += torch.tensor([0.3, -0.2], dtype=torch.float64)
    game.discriminator.theta.data = torch.tensor([0.4, -0.1], dtype=torch.float64)
    expected = reference_direction(method, Flat(game, x, z), GAMMA)
    for zero_sum in (False, True):  # the one-backward shortcut for L_G = −L_D agrees
        got = rule_direction(method, game, x, z, GAMMA, zero_sum)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("method", ["conopt", "jare"])
def test_regularizer_gradient_matches_finite_differences(method):
    game, x, z = tiny_game("standard")
    flat = Flat(game, x, z)
    n_g, w0, eps = flat.n_g, flat.w0, 1e-5

    def penalty(w, player):
        v = flat.v(w)
        if method == "conopt":
            return 0.5 * (v ** 2).sum()
        other = v[n_g:] if player == "g" else v[:n_g]   # JARE: the other player's gradient
        return 0.5 * (other ** 2).sum()

    fd = torch.zeros_like(w0)
    for i in range(len(w0)):
        e = torch.zeros_like(w0)
        e[i] = eps
        player = "g" if i < n_g else "d"
        fd[i] = (penalty(w0 + e, player) - penalty(w0 - e, player)) / (2 * eps)
    expected = flat.v(w0) + GAMMA * fd
    got = rule_direction(method, game, x, z, GAMMA, zero_sum=False)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def test_unreached_parameters_get_zero_not_none():
    game, x, z = tiny_game("wgan", dataset="gaussian")  # wgan: L_D is linear, so ∇_θ ½‖g_θ‖² ≡ 0
    rule = build_rule("conopt", 1.0, {})
    out = rule.direction([game.losses(x, z)], game.d_params(), game.g_params())
    assert all(isinstance(u, torch.Tensor) for u in (*out.u_d, *out.u_g))


@pytest.mark.parametrize("d_first", [True, False])
def test_altgd_steps_players_in_turn_on_fresh_batches(d_first):
    lr, batch = 0.05, 8
    game, _, _ = tiny_game("standard")
    ref, _, _ = tiny_game("standard")
    rule = build_rule("altgd", 0.0, {"d_first": d_first, "d_steps": 2, "g_steps": 1})
    opt_d = torch.optim.SGD(game.d_params(), lr=lr)
    opt_g = torch.optim.SGD(game.g_params(), lr=lr)
    rule.train_step(game, opt_d, opt_g, batch, torch.Generator().manual_seed(9))

    rng = torch.Generator().manual_seed(9)

    def d_step():
        x, z = ref.sample_batch(batch, rng)
        ld, _ = ref.losses(x, z)
        for p, g in zip(ref.d_params(), torch.autograd.grad(ld, ref.d_params())):
            p.data -= lr * g

    def g_step():
        x, z = ref.sample_batch(batch, rng)
        _, lg = ref.losses(x, z)
        for p, g in zip(ref.g_params(), torch.autograd.grad(lg, ref.g_params())):
            p.data -= lr * g

    order = [d_step, d_step, g_step] if d_first else [g_step, d_step, d_step]
    for f in order:
        f()
    for a, b in zip(game.g_params() + game.d_params(), ref.g_params() + ref.d_params()):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_simgd_steps_both_players_from_the_same_point():
    lr, batch = 0.05, 8
    game, _, _ = tiny_game("standard")
    rng = torch.Generator().manual_seed(2)
    x, z = game.sample_batch(batch, torch.Generator().manual_seed(2))
    ld, lg = game.losses(x, z)
    g_d = torch.autograd.grad(ld, game.d_params(), retain_graph=True)
    g_g = torch.autograd.grad(lg, game.g_params())
    expected = [p.detach() - lr * g for p, g in zip(game.d_params() + game.g_params(), g_d + g_g)]
    build_rule("simgd", 0.0, {}).train_step(game, torch.optim.SGD(game.d_params(), lr=lr),
                                            torch.optim.SGD(game.g_params(), lr=lr), batch, rng)
    for p, e in zip(game.d_params() + game.g_params(), expected):
        torch.testing.assert_close(p.detach(), e, atol=1e-12, rtol=0)
