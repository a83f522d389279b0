"""`regularizer_estimate=variance_corrected` (the Numerics supplement's unbiased estimate,
docs/methods.md §3.1) against an independent computation: an explicit loop over the samples, each
with its own full Hessians (tests/rules/test_directions.py's flat losses), giving

    ∇L̂ = B/(B − 1)·J̄ᵀv̄ − 1/(B − 1)·(1/B)Σ J_iᵀv_i     (ConOpt; JARE keeps the cross blocks),

with v_i, J_i sample i's field and its Jacobian, v̄ and J̄ their means, and the estimate's value
½‖v̄‖² − S²/(2B − 2), S² = (1/B)Σ‖v_i − v̄‖² (the supplement's "1/(2B − 2) times the sample
variance"), written out as such.
"""
from __future__ import annotations

import functools

import pytest
import torch

from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.rules import build_rule
from tests.helpers import make_cfg
from tests.rules.test_directions import GAMMA, REGULARIZED, Flat, tiny_game
from tests.rules.test_regularizer_estimate import two_sample_direction


def fields_and_jacobians(game, x, z):
    """Per sample i: (v_i, J_i) from full Hessians of that sample's losses."""
    out = []
    for i in range(x.shape[0]):
        flat = Flat(game, x[i:i + 1], z[i:i + 1])
        w, n_g = flat.w0, flat.n_g
        h_d = torch.autograd.functional.hessian(lambda w: flat.losses(w)[0], w)
        h_g = torch.autograd.functional.hessian(lambda w: flat.losses(w)[1], w)
        out.append((flat.v(w), torch.cat([h_g[:n_g], h_d[n_g:]])))
    return out, n_g


@functools.cache
def reference(loss: str, dataset: str) -> dict:
    game, x, z = tiny_game(loss, dataset)
    per, n_g = fields_and_jacobians(game, x, z)
    big = len(per)
    vbar = sum(v for v, _ in per) / big
    jbar = sum(j for _, j in per) / big
    g, d = slice(0, n_g), slice(n_g, None)

    def grad_of(block_v: slice, wrt: slice) -> torch.Tensor:
        """∇_wrt of the corrected ½‖v_block‖²."""
        mean_term = jbar[block_v, wrt].T @ vbar[block_v]
        own = sum(j[block_v, wrt].T @ v[block_v] for v, j in per) / big
        return big / (big - 1) * mean_term - own / (big - 1)

    full_g = grad_of(g, g) + grad_of(d, g)
    full_d = grad_of(g, d) + grad_of(d, d)
    zero_g, zero_d = torch.zeros_like(vbar[g]), torch.zeros_like(vbar[d])
    pen = {"conopt": (full_g, full_d), "jare": (grad_of(d, g), grad_of(g, d)),
           "conopt_g": (full_g, zero_d), "conopt_d": (zero_g, full_d),
           "jare_g": (grad_of(d, g), zero_d), "jare_d": (zero_g, grad_of(g, d)),
           "gradnorm": (full_g, full_d)}
    dirs = {m: torch.cat([(0 if m == "gradnorm" else vbar[g]) + GAMMA * pg,
                          (0 if m == "gradnorm" else vbar[d]) + GAMMA * pd])
            for m, (pg, pd) in pen.items()}

    def value(block: slice) -> float:   # ½‖v̄‖² − S²/(2B − 2), S² with 1/B
        s2 = sum(((v - vbar)[block] ** 2).sum() for v, _ in per) / big
        return float(0.5 * (vbar[block] ** 2).sum() - s2 / (2 * big - 2))

    return {"directions": dirs, "reg_grad_g": value(g), "reg_grad_d": value(d)}


def step(method: str, loss: str, dataset: str):
    """One train_step with lr 0 on tiny_game's batch (replayed from its seed)."""
    game, x, z = tiny_game(loss, dataset)
    rule = build_rule(method, GAMMA, {"regularizer_estimate": "variance_corrected"})
    captured = {}
    opt = lambda ps: torch.optim.SGD(ps, lr=0.0)  # noqa: E731
    opt_d, opt_g = opt(game.d_params()), opt(game.g_params())
    stats = rule.train_step(game, opt_d, opt_g, x.shape[0], torch.Generator().manual_seed(5))
    for p in (*game.g_params(), *game.d_params()):
        captured.setdefault("u", []).append(p.grad.reshape(-1))
    return torch.cat(captured["u"]), stats


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["standard", "minimax", "wgan", "hinge"])
@pytest.mark.parametrize("method", [*REGULARIZED, "gradnorm"])
def test_direction_matches_per_sample_hessians(method, loss):
    got, stats = step(method, loss, "mog")
    ref = reference(loss, "mog")
    torch.testing.assert_close(got, ref["directions"][method], atol=1e-6, rtol=1e-6)
    for key in ("reg_grad_g", "reg_grad_d"):
        assert float(stats[key]) == pytest.approx(ref[key], rel=1e-8, abs=1e-12), key


@pytest.mark.parametrize("method", ["conopt", "jare"])
def test_direction_on_the_gaussian_game(method):
    got, _ = step(method, "minimax", "gaussian")
    torch.testing.assert_close(got, reference("minimax", "gaussian")["directions"][method],
                               atol=1e-8, rtol=1e-8)
    same = build_rule(method, GAMMA, {})        # and it is not the same-batch direction
    game, x, z = tiny_game("minimax", "gaussian")
    out = same.direction([game.losses(x, z)], game.d_params(), game.g_params())
    plain = torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)])
    assert (got - plain).abs().max() > 1e-4


def test_refused_where_per_sample_gradients_are_not_defined():
    with pytest.raises(ConfigError, match="batch_size=1 is invalid"):
        validate(make_cfg("dataset=gaussian", "method=jare",
                          "method.regularizer_estimate=variance_corrected", "batch_size=1"))
    # batch norm couples a batch's samples: refused where the net has it, by default or switched on
    for arch in (["arch=dcgan4"], ["arch=conv4"], ["arch=dcgan3", "arch.batch_norm=true"],
                 ["arch=dcgan4_const", "arch.batch_norm=true"]):
        with pytest.raises(ConfigError, match=rf"^method.regularizer_estimate='variance_corrected' "
                                              rf"is invalid: {arch[0]} has batch norm"):
            validate(make_cfg("dataset=fake_images", *arch, "method=jare",
                              "method.regularizer_estimate=variance_corrected"))
    for arch in (["arch=dcgan4_nobn"], ["arch=dcgan4_const"], ["arch=dcgan4", "arch.batch_norm=false"],
                 ["arch=conv4_nobn"], ["arch=resnet_v1"]):   # no batch norm: accepted
        validate(make_cfg("dataset=fake_images", *arch, "method=jare",
                          "method.regularizer_estimate=variance_corrected"))
    for method in ("sga", "r1", "cgd", "extragradient"):
        with pytest.raises(ConfigError, match="regularizer_estimate"):
            validate(make_cfg("dataset=gaussian", f"method={method}",
                              "method.regularizer_estimate=variance_corrected"))


@pytest.mark.parametrize("arch", [("arch=dcgan4_nobn",), ("arch=dcgan4_const",)])
def test_image_net_without_batch_norm_at_two_samples_is_the_half_batch_product(arch):
    """On an image net without batch norm the per-sample gradients exist: at B = 2 the torch.func
    estimate equals the autograd half-batch one (as on the Gaussian game,
    tests/rules/test_regularizer_estimate.py), value and direction."""

    cfg = make_cfg("dataset=fake_images", *arch, "arch.filters=2", "arch.z_dim=3",
                   "dataset.resolution=16", "dataset.size=8", "batch_size=2", "dtype=float64")
    validate(make_cfg("dataset=fake_images", *arch, "method=conopt",
                      "method.regularizer_estimate=variance_corrected"))
    out = {e: two_sample_direction(cfg, e, seed=0) for e in ("unbiased", "variance_corrected")}
    assert float(out["unbiased"][1]) > 1e-6   # a regularizer that is not trivially zero
    for a, b in zip(out["unbiased"], out["variance_corrected"]):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
