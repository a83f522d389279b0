"""The rules of docs/methods.md §8 (sga, cgd, r1, r2, extragradient, optimistic) against independent
computations in float64.

Directions come from the full Hessians of the players' losses written as functions of one flat
parameter vector w = (φ, θ) (tests/reference.py style: torch.autograd.functional on
``functional_call``), solved with ``torch.linalg.solve`` where a rule solves a system, and from
closed forms (∇ₓD of the 2-layer ReLU MLP written out; θ and θ⊙eˣ for the Gaussian game's
discriminators). Steps are replayed by hand on the same batches. Spectra are checked against
matrices and polynomials built here, never against ``gantrain.analysis.theory``.
"""
from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch

from gantrain.analysis.phase import run_grid
from gantrain.analyze import spectrum_at
from gantrain.config import validate
from gantrain.games import build_game
from gantrain.games.gaussian_grid import GaussianGridGame
from gantrain.rules import build_rule
from tests.config.test_bad_input import assert_one_line_error, command, in_process  # noqa: F401
from tests.helpers import make_cfg
from tests.rules.test_directions import Flat, halves_of, tiny_game
from tests.test_train import assert_same_state, checkpoint, run

GAMMA = 0.7
LOSSES = ["standard", "minimax", "wgan", "hinge"]
TIGHT = dict(rtol=1e-9, atol=1e-10)


# --- the reference ------------------------------------------------------------------------------
_tiny_game = functools.cache(tiny_game)   # composing a config costs ~0.5 s; copies are free


def game_at(loss: str, dataset: str = "mog", shift: int | None = 0, scale: float = 0.5):
    """A copy of tiny_game's game and batch, its parameters moved by ``scale``·N(0, 1) (seed
    ``shift``) away from the initialization, where every second-order term is far from zero."""
    game, x, z = copy.deepcopy(_tiny_game(loss, dataset))
    if shift is not None:
        g = torch.Generator().manual_seed(shift)
        with torch.no_grad():
            for p in (*game.g_params(), *game.d_params()):
                p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return game, x, z


def hessians(flat: Flat) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """v and the full Hessians of L_D and L_G in w = (φ, θ)."""
    hess = functools.partial(torch.autograd.functional.hessian, vectorize=True)
    w = flat.w0
    return (flat.v(w), hess(lambda w: flat.losses(w)[0], w), hess(lambda w: flat.losses(w)[1], w))


@functools.cache
def reference(loss: str, dataset: str = "mog", shift: int | None = 0, half: int | None = None):
    """(n_g, v, J, H_D, H_G) at ``game_at``'s point on its batch (or on half ``half`` of it);
    J = ∂v/∂w, rows (φ, θ). Cached: the tensors are never modified."""
    game, x, z = game_at(loss, dataset, shift)
    if half is not None:
        x, z = halves_of(x, z)[half]
    flat = Flat(game, x, z)
    v, h_d, h_g = hessians(flat)
    n_g = flat.n_g
    return n_g, v, torch.cat([h_g[:n_g], h_d[n_g:]]), h_d, h_g


@functools.cache   # one composition per setting
def gaussian_cfg(*overrides: str):
    return make_cfg("dataset=gaussian", "dtype=float64", "dataset.mu=1.5", "dataset.sigma=0.3",
                   "dataset.init_phi=[1.2,0.9]", "dataset.init_theta=[0.8,-0.6]", *overrides)


def flat_direction(out) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)])


def direction(method: str, game, losses, gamma: float = GAMMA, create_graph=False, **options):
    rule = build_rule(method, gamma, options)
    return rule.direction(losses, game.d_params(), game.g_params(), create_graph=create_graph,
                          zero_sum=game.zero_sum)


# --- sga ------------------------------------------------------------------------------------------
SGA_GAMES = [("mog", loss) for loss in LOSSES] + [("gaussian", "minimax"), ("gaussian", "standard")]


@pytest.mark.parametrize("dataset,loss", SGA_GAMES)
def test_sga_direction_is_xi_plus_antisymmetric_part(dataset, loss):
    """u = ξ + γ·½(Jᵀ − J)ξ (Balduzzi et al.: Aᵀξ with A the antisymmetric part of J)."""
    game, x, z = game_at(loss, dataset)
    _, v, J, _, _ = reference(loss, dataset)
    adjustment = 0.5 * (J.T @ v - J @ v)
    out = direction("sga", game, [game.losses(x, z)])
    torch.testing.assert_close(flat_direction(out), v + GAMMA * adjustment, **TIGHT)
    assert adjustment.abs().max() > 1e-3            # the adjustment really acts
    torch.testing.assert_close(out.stats["adjustment_norm"], adjustment.norm(), **TIGHT)


def align_sign(v, jt, jv, eps=0.1) -> float:
    """Balduzzi et al.'s λ sign: sign(⟨ξ, ∇H⟩⟨Aᵀξ, ∇H⟩/d + ε), ∇H = Jᵀξ."""
    adj = 0.5 * (jt - jv)
    return float(torch.sign((v @ jt) * (adj @ jt) / v.numel() + eps))


@pytest.mark.parametrize("shift,sign", [(1, -1.0), (0, 1.0)])
def test_sga_alignment_flips_the_adjustment_where_the_sign_is_negative(shift, sign):
    """At the point of seed 1, ⟨ξ, Jᵀξ⟩ = ⟨ξ, Sξ⟩ < 0 (S the symmetric part of J: negative
    curvature along ξ, as near an unstable point) while ⟨Aᵀξ, Jᵀξ⟩ > 0, so λ = −γ; at seed 0
    both products are positive and λ = +γ (the alignment leaves the plain SGA step)."""
    game, x, z = game_at("minimax", "mog", shift)
    _, v, J, _, _ = reference("minimax", "mog", shift)
    jt, jv = J.T @ v, J @ v
    assert align_sign(v, jt, jv) == sign            # the case is the one it claims to be
    assert (v @ jt < 0) == (sign < 0)
    out = direction("sga", game, [game.losses(x, z)], align=True)
    torch.testing.assert_close(flat_direction(out), v + sign * GAMMA * 0.5 * (jt - jv), **TIGHT)
    assert float(out.stats["sga_sign"]) == sign
    plain = direction("sga", game, [game.losses(x, z)])
    assert ((flat_direction(out) - flat_direction(plain)).abs().max() > 1e-3) == (sign < 0)


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("loss", ["standard", "minimax"])
def test_sga_unbiased_uses_cross_products_of_the_halves(loss, align):
    """ξ = ½(ξ_A + ξ_B), Jᵀξ → ½(J_Aᵀξ_B + J_Bᵀξ_A), Jξ → ½(J_Aξ_B + J_Bξ_A)."""
    game, x, z = game_at(loss)
    _, v_a, j_a, _, _ = reference(loss, half=0)
    _, v_b, j_b, _, _ = reference(loss, half=1)
    xi = 0.5 * (v_a + v_b)
    jt = 0.5 * (j_a.T @ v_b + j_b.T @ v_a)
    jv = 0.5 * (j_a @ v_b + j_b @ v_a)
    lam = GAMMA * (align_sign(xi, jt, jv, eps=1e-3) if align else 1.0)
    halves = halves_of(x, z)
    out = direction("sga", game, [game.losses(*h) for h in halves],
                    regularizer_estimate="unbiased", align=align, align_eps=1e-3)
    got = flat_direction(out)
    torch.testing.assert_close(got, xi + lam * 0.5 * (jt - jv), **TIGHT)
    for h in halves:   # not the same-batch estimate of either half
        same = direction("sga", game, [game.losses(*h)], align=align, align_eps=1e-3)
        assert (got - flat_direction(same)).abs().max() > 1e-4


# --- cgd ------------------------------------------------------------------------------------------
ETA = 1.5   # not 1: η² and η must differ


def cgd_reference(v, h_d, h_g, n_g: int, eta: float) -> torch.Tensor:
    """u_φ = (I − η²AB)⁻¹(g_φ − ηA g_θ), u_θ = (I − η²BA)⁻¹(g_θ − ηB g_φ), with A = ∂²L_G/∂φ∂θ,
    B = ∂²L_D/∂θ∂φ (Schäfer and Anandkumar's two formulas, each solved on its own)."""
    g, d = slice(0, n_g), slice(n_g, None)
    A, B = h_g[g, d], h_d[d, g]
    eye_g = torch.eye(n_g, dtype=v.dtype)
    eye_d = torch.eye(len(v) - n_g, dtype=v.dtype)
    u_g = torch.linalg.solve(eye_g - eta**2 * A @ B, v[g] - eta * A @ v[d])
    u_d = torch.linalg.solve(eye_d - eta**2 * B @ A, v[d] - eta * B @ v[g])
    return torch.cat([u_g, u_d])


def cgd(game, x, z, eta=ETA, create_graph=False, **options):
    return direction("cgd", game, [game.losses(x, z)], 0.0, create_graph, eta=eta, **options)


@pytest.mark.parametrize("dataset,loss", [("mog", loss) for loss in LOSSES]
                         + [("gaussian", "minimax"), ("gaussian", "standard")])
def test_cgd_direction_is_the_local_nash_step(dataset, loss):
    """Zero-sum (minimax: CG on I + η²BᵀB) and not (CG on the normal equations), and the dense
    solve that a differentiable direction takes."""
    game, x, z = game_at(loss, dataset)
    n_g, v, _, h_d, h_g = reference(loss, dataset)
    expected = cgd_reference(v, h_d, h_g, n_g, ETA)
    assert (expected - v).norm() > 0.1 * v.norm()      # the coupling really acts
    out = cgd(game, x, z, cg_iters=500, cg_tol=1e-14)
    torch.testing.assert_close(flat_direction(out), expected, **TIGHT)
    dense = cgd(game, x, z, create_graph=True)
    got = flat_direction(dense)
    assert got.requires_grad                           # differentiable in the parameters
    torch.testing.assert_close(got.detach(), expected, **TIGHT)


@pytest.mark.parametrize("loss", ["minimax", "standard"])
def test_cgd_iteration_count_matters_and_stats_report_it(loss):
    """Two CG iterations leave a measurable error; the reported residual is the true relative
    residual of the system CG runs on (I − η²AB, or its normal equations when L_G ≠ −L_D)."""
    game, x, z = game_at(loss)
    n_g, v, _, h_d, h_g = reference(loss)
    expected = cgd_reference(v, h_d, h_g, n_g, ETA)
    g, d = slice(0, n_g), slice(n_g, None)
    A, B = h_g[g, d], h_d[d, g]
    M = torch.eye(n_g, dtype=v.dtype) - ETA**2 * A @ B
    rhs = v[g] - ETA * A @ v[d]
    if loss != "minimax":   # CG on MᵀM u = Mᵀ rhs
        M, rhs = M.T @ M, M.T @ rhs

    def residual(u_g):
        return float((rhs - M @ u_g).norm() / rhs.norm())

    few = cgd(game, x, z, cg_iters=2, cg_tol=1e-14)
    err = float((flat_direction(few) - expected).norm() / expected.norm())
    assert err > 1e-3, err
    assert int(few.stats["cg_iterations"]) == 2
    u_g = flat_direction(few)[:n_g]
    assert float(few.stats["cg_residual"]) == pytest.approx(residual(u_g), rel=1e-6)
    assert residual(u_g) > 1e-6

    many = cgd(game, x, z, cg_iters=500, cg_tol=1e-12)
    assert 2 < int(many.stats["cg_iterations"]) < 500          # stopped by the tolerance
    assert float(many.stats["cg_residual"]) <= 1e-12
    assert residual(flat_direction(many)[:n_g]) < 1e-10
    assert float((flat_direction(many) - expected).norm() / expected.norm()) < 1e-9


@pytest.mark.parametrize("cg_iters", [1, 200])
@pytest.mark.parametrize("loss", ["minimax", "standard"])
def test_cgd_grid_point_is_the_single_game_with_its_eta(loss, cg_iters):
    """A grid of Gaussian games with one η per point: every point's direction is the single
    game's with that η. One CG iteration only agrees if each point has its own inner products
    (CG on the stacked system converges to the same solution, but not in the same iterates)."""
    cfg = gaussian_cfg(f"loss={loss}")
    grid = GaussianGridGame(cfg.dataset, cfg.arch, cfg.loss.name, "cpu", torch.float64, 3)
    with torch.no_grad():
        grid.generator.phi.add_(torch.tensor([[0.7, -0.3], [-0.5, 0.2], [0.3, 0.9]],
                                             dtype=torch.float64))
        grid.discriminator.theta.copy_(torch.tensor([[0.5, -0.8], [-1.0, 0.3], [0.7, 1.2]],
                                                    dtype=torch.float64))
    etas = torch.tensor([0.3, 1.0, 3.0], dtype=torch.float64)
    x, z = grid.sample_batch(8, torch.Generator().manual_seed(1))
    out = build_rule("cgd", torch.zeros(3, dtype=torch.float64),
                     {"eta": etas, "cg_iters": cg_iters, "cg_tol": 0.0}).direction(
        [grid.losses(x, z)], grid.d_params(), grid.g_params(), zero_sum=grid.zero_sum)
    for k in range(3):
        single = build_game(validate(cfg), "cpu", torch.float64)
        with torch.no_grad():
            single.generator.phi.copy_(grid.generator.phi[k])
            single.discriminator.theta.copy_(grid.discriminator.theta[k])
        ref = cgd(single, x, z, eta=float(etas[k]), cg_iters=cg_iters, cg_tol=0.0)
        torch.testing.assert_close(out.u_g[0][k], ref.u_g[0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(out.u_d[0][k], ref.u_d[0], rtol=1e-10, atol=1e-12)
        if cg_iters == 200:   # converged: the dense solution
            v, h_d, h_g = hessians(Flat(single, x, z))
            torch.testing.assert_close(flat_direction(ref),
                                       cgd_reference(v, h_d, h_g, 2, float(etas[k])), **TIGHT)


# --- r1, r2 ---------------------------------------------------------------------------------------
def mlp_input_gradient(pd: dict, x: torch.Tensor) -> torch.Tensor:
    """∇ₓD for D(x) = w₄ᵀ relu(W₂ relu(W₀x + b₀) + b₂) + b₄, written out: W₀ᵀ(m₀ ⊙ W₂ᵀ(m₂ ⊙ w₄)),
    m the ReLU masks; one row per sample."""
    w0, b0 = pd["net.0.weight"], pd["net.0.bias"]
    w2, b2 = pd["net.2.weight"], pd["net.2.bias"]
    w4 = pd["net.4.weight"][0]
    pre0 = x @ w0.T + b0
    pre2 = torch.relu(pre0) @ w2.T + b2
    back2 = (pre2 > 0).to(x.dtype) * w4
    back0 = (pre0 > 0).to(x.dtype) * (back2 @ w2)
    return back0 @ w0


class PenalizedFlat(Flat):
    """L_D + γ·½ mean ‖∇ₓD(x)‖² over the real batch (r1) or the generated one (r2, held constant),
    L_G unchanged, as functions of w."""

    def __init__(self, game, x, z, on: str, gamma: float):
        super().__init__(game, x, z)
        self.on, self.gamma = on, gamma

    def losses(self, w):
        from torch.func import functional_call

        loss_d, loss_g = super().losses(w)
        pd = self.split(w, self.d_names, self.d_shapes, self.n_g)
        if self.on == "real":
            samples = self.x
        else:
            pg = self.split(w, self.g_names, self.g_shapes, 0)
            samples = functional_call(self.game.generator, pg, (self.z,)).detach()
        grad_x = mlp_input_gradient(pd, samples)
        return loss_d + self.gamma * 0.5 * grad_x.square().sum(-1).mean(), loss_g


@pytest.mark.parametrize("loss", LOSSES)
def test_r1_r2_directions_are_the_penalized_gradients(loss):
    game, x, z = game_at(loss)
    unpenalized = Flat(game, x, z)
    plain = unpenalized.v(unpenalized.w0)
    n_g = sum(p.numel() for p in game.g_params())
    got = {}
    for method, on in (("r1", "real"), ("r2", "fake")):
        rule = build_rule(method, GAMMA, {})
        out = rule.direction([rule.losses(game, x, z)], game.d_params(), game.g_params(),
                             zero_sum=game.zero_sum)
        flat = PenalizedFlat(game, x, z, on, GAMMA)
        expected = flat.v(flat.w0)
        got[method] = flat_direction(out)
        torch.testing.assert_close(got[method], expected, **TIGHT)
        torch.testing.assert_close(got[method][:n_g], plain[:n_g], **TIGHT)   # G: unchanged
        assert (got[method][n_g:] - plain[n_g:]).abs().max() > 1e-3          # D: penalized
    assert (got["r1"] - got["r2"]).abs().max() > 1e-3


def gaussian_game(*overrides: str):
    return build_game(validate(gaussian_cfg(*overrides)), "cpu", torch.float64)


@pytest.mark.parametrize("method", ["r1", "r2"])
@pytest.mark.parametrize("arch", ["linear", "fullrank"])
def test_r1_r2_expected_penalty_on_the_gaussian_game(method, arch):
    """Linear D: ∇ₓD = θ, so the penalty is ½‖θ‖² exactly. Full rank: ∇ₓD = θ⊙eˣ and
    E e^{2x_i} = e^{2m_i + 2σ²} for x ~ N(m, σ²I), m = v (real) or φ (generated). The batch
    estimate is the plain mean of the same terms."""
    game = gaussian_game(f"arch={arch}")
    theta = game.discriminator.theta.detach()
    phi = game.generator.phi.detach()
    sigma = 0.3
    rule = build_rule(method, GAMMA, {})
    centre = game.v if method == "r1" else phi    # of the samples the penalty averages over
    if arch == "linear":
        penalty = 0.5 * theta.square().sum()
    else:
        penalty = 0.5 * (theta.square() * torch.exp(2 * centre + 2 * sigma**2)).sum()
    (ld, lg), (ld0, lg0) = rule.expected_losses(game, 8), game.expected_losses(8)
    torch.testing.assert_close(ld - ld0, GAMMA * penalty, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(lg, lg0, rtol=0, atol=0)
    x, z = game.sample_batch(7, torch.Generator().manual_seed(0))
    samples = x if method == "r1" else phi + z
    grad_x = theta.expand_as(samples) if arch == "linear" else theta * torch.exp(samples)
    batch_penalty = 0.5 * grad_x.square().sum(-1).mean()
    (bd, bg), (bd0, bg0) = rule.losses(game, x, z), game.losses(x, z)
    torch.testing.assert_close(bd - bd0, GAMMA * batch_penalty, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(bg, bg0, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["r1", "r2", "extragradient", "optimistic", "cgd"])
def test_rules_without_an_unbiased_estimate_refuse_it(method):
    with pytest.raises(ValueError, match="regularizer_estimate='unbiased'"):
        build_rule(method, 1.0, {"regularizer_estimate": "unbiased"})


# --- extragradient, optimistic ------------------------------------------------------------------
LR, BATCH = 0.1, 8


def params_of(game) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in (*game.g_params(), *game.d_params())])


def sgd_steps(method: str, game, steps: int, seed: int) -> None:
    rule = build_rule(method, 0.0, {})
    opt_d = torch.optim.SGD(game.d_params(), lr=LR)
    opt_g = torch.optim.SGD(game.g_params(), lr=LR)
    rng = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rule.train_step(game, opt_d, opt_g, BATCH, rng)


def batch_fields(game, n: int, seed: int) -> list:
    """v on each of the first n batches the rule's generator yields, as functions of w."""
    rng = torch.Generator().manual_seed(seed)
    return [Flat(game, *game.sample_batch(BATCH, rng)).v for _ in range(n)]


@pytest.mark.parametrize("loss", ["standard", "minimax", "hinge"])
def test_extragradient_step_is_two_gradients_on_two_batches(loss):
    """w ← w − η v_B(w − η v_A(w)), A and B the two fresh batches drawn in turn."""
    game, _, _ = game_at(loss)
    v_a, v_b = batch_fields(game, 2, seed=9)
    w = params_of(game)
    expected = w - LR * v_b(w - LR * v_a(w))
    sgd_steps("extragradient", game, 1, seed=9)
    torch.testing.assert_close(params_of(game), expected, rtol=0, atol=1e-12)
    one_batch = w - LR * v_a(w - LR * v_a(w))     # the batches matter
    assert (expected - one_batch).abs().max() > 1e-4


@pytest.mark.parametrize("loss", ["standard", "minimax"])
def test_optimistic_steps_follow_the_recursion(loss):
    """w₁ = w₀ − η v₀, then w_{k+1} = w_k − η(2v_k − v_{k−1}), v_k on the k-th batch at w_k."""
    game, _, _ = game_at(loss)
    fields = batch_fields(game, 3, seed=4)
    ws = [params_of(game)]
    vs = []
    for k, v in enumerate(fields):
        vs.append(v(ws[-1]))
        ws.append(ws[-1] - LR * (vs[-1] if k == 0 else 2 * vs[-1] - vs[-2]))
    sgd_steps("optimistic", game, 3, seed=4)
    torch.testing.assert_close(params_of(game), ws[-1], rtol=0, atol=1e-12)
    plain = ws[1] - LR * fields[1](ws[1])           # the memory matters
    assert (ws[2] - plain).abs().max() > 1e-4


OPTIMISTIC = ("dataset=gaussian", "method=optimistic", "eta=0.05", "log_every=5",
              "checkpoint_every=10")


@pytest.fixture(scope="module")
def optimistic_reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("optimistic") / "ref"
    assert run(d, *OPTIMISTIC, "steps=20")["status"] == "completed"
    return d


def test_optimistic_resume_is_bit_identical(tmp_path, optimistic_reference):
    d = tmp_path / "run"
    run(d, *OPTIMISTIC, "steps=10")
    state = checkpoint(d)["modules"]["rule"]
    assert state["previous_d"] is not None        # the checkpoint holds the last gradient
    assert run(d, *OPTIMISTIC, "steps=20")["steps_done"] == 20
    assert_same_state(checkpoint(d), checkpoint(optimistic_reference))


def test_optimistic_resume_without_its_state_goes_elsewhere(tmp_path, optimistic_reference):
    """The same resume with the rule's state emptied in the checkpoint (as if it were not saved):
    the first resumed step takes v alone, and the run leaves the reference trajectory."""
    d = tmp_path / "run"
    run(d, *OPTIMISTIC, "steps=10")
    path = d / "checkpoints" / "last.pt"
    payload = torch.load(path, weights_only=True)
    payload["modules"]["rule"] = {"previous_d": None, "previous_g": None}
    torch.save(payload, path)
    run(d, *OPTIMISTIC, "steps=20")
    got, ref = checkpoint(d)["modules"], checkpoint(optimistic_reference)["modules"]
    diff = max((got[k][n] - ref[k][n]).abs().max().item()
               for k in ("generator", "discriminator") for n in got[k])
    assert diff > 1e-6, diff


# --- spectra at the Gaussian game's equilibrium -----------------------------------------------
def hand_m(mu: float, sigma: float, n: int) -> np.ndarray:
    """The Jacobian of −v for the linear Gaussian game at (φ, θ) = (v, 0), from the losses: with
    f(t) = softplus, f′(0) = ½ and f″(0) = ¼, ∂g_φ/∂θ = −½I, ∂g_θ/∂φ = ½I,
    ∂g_θ/∂θ = ¼(E xxᵀ + E xxᵀ) = ½(σ²I + vvᵀ), ∂g_φ/∂φ = 0."""
    v = np.zeros(n)
    v[-1] = mu
    H = np.zeros((2 * n, 2 * n))
    H[:n, n:] = -0.5 * np.eye(n)
    H[n:, :n] = 0.5 * np.eye(n)
    H[n:, n:] = 0.5 * (sigma**2 * np.eye(n) + np.outer(v, v))
    return -H


def assert_same_multiset(got, want, tol: float) -> None:
    from scipy.optimize import linear_sum_assignment

    got, want = np.asarray(got, complex).ravel(), np.asarray(want, complex).ravel()
    assert got.shape == want.shape
    cost = np.abs(got[:, None] - want[None, :])
    i, j = linear_sum_assignment(cost)
    assert (cost[i, j] / np.maximum(1, np.abs(want[j]))).max() < tol, (got, want)


def as_complex(pairs) -> np.ndarray:
    return np.array([complex(re, im) for re, im in pairs])


@pytest.mark.parametrize("sigma,n", [(0.5, 2), (0.2, 3)])
def test_r1_r2_spectrum_is_theorem1_with_the_penalty(sigma, n):
    """Per block 4λ² + (2s + 4γ)λ + 1 = 0, s = σ² (n − 1 blocks) and σ² + μ² (one)."""
    cfg = make_cfg("dataset=gaussian", f"dataset.sigma={sigma}", f"dataset.dim={n}")
    for method in ("r1", "r2"):
        for mu, gamma in ((2.0, 0.3), (4.0, 3.0)):
            want = []
            for s in [sigma**2] * (n - 1) + [sigma**2 + mu**2]:
                want += list(np.roots([4.0, 2 * s + 4 * gamma, 1.0]))
            got = spectrum_at(cfg, method=method, gamma=gamma, mu=mu)["eigenvalues"]
            assert_same_multiset(as_complex(got), want, 1e-9)


@pytest.mark.parametrize("h", [0.02, 0.3])
def test_two_point_multipliers_at_the_equilibrium(h):
    """Extragradient's map I + hM + h²M²; optimistic's pairs (w_k, w_{k−1}), whose multipliers
    solve μ² − (1 + 2hλ)μ + hλ = 0 for each eigenvalue λ of M."""
    mu, sigma, n = 3.0, 0.5, 2
    M = hand_m(mu, sigma, n)
    cfg = make_cfg("dataset=gaussian", f"dataset.mu={mu}", f"dataset.sigma={sigma}", f"eta={h}")
    eg = spectrum_at(cfg, method="extragradient")
    eye = np.eye(2 * n)
    assert_same_multiset(as_complex(eg["multipliers"]),
                         np.linalg.eigvals(eye + h * M + h * h * M @ M), 1e-9)
    og = spectrum_at(cfg, method="optimistic")
    want = [r for lam in np.linalg.eigvals(M) for r in np.roots([1.0, -(1 + 2 * h * lam), h * lam])]
    assert_same_multiset(as_complex(og["multipliers"]), want, 1e-9)


def test_sga_and_cgd_field_jacobians_at_the_equilibrium():
    """The differentiable directions (create_graph: SGA's double-backward products, CGD's dense
    solve) give the Jacobians of −u by hand, H = ∂v/∂w = −M: SGA −(H + γ·½(Hᵀ − H)H), CGD
    P(η)·M with u = P(η)v, P(η) = [[I, (η/2)I], [−(η/2)I, I]]/(1 + η²/4) (A = −½I, B = ½I)."""
    mu, sigma, n, gamma, eta = 3.0, 0.5, 2, 0.8, 0.4
    M = hand_m(mu, sigma, n)
    H = -M
    cfg = make_cfg("dataset=gaussian", f"dataset.mu={mu}", f"dataset.sigma={sigma}",
                   f"gamma={gamma}", f"eta={eta}", "method=cgd")
    sga = spectrum_at(cfg, method="sga")
    assert_same_multiset(as_complex(sga["eigenvalues"]),
                         np.linalg.eigvals(-(H + gamma * 0.5 * (H.T - H) @ H)), 1e-9)
    eye = np.eye(n)
    P = np.block([[eye, eta / 2 * eye], [-eta / 2 * eye, eye]]) / (1 + eta**2 / 4)
    assert_same_multiset(as_complex(spectrum_at(cfg)["eigenvalues"]),
                         np.linalg.eigvals(P @ M), 1e-9)


def test_extragradient_max_stable_lr_separates_real_runs():
    """The analysed bound against plain-SGD runs of the rule: at 0.8× it the run contracts and
    never leaves its start distance, at 1.25× it the stiff mode (λ ≈ −(σ² + μ²)/2, multiplier
    1 + hλ + h²λ² > 1 past h = 1/|λ|) throws it out at once. Here the bound is 1/|λ| by hand."""
    mu, sigma = 4.0, 0.2
    cfg = make_cfg("dataset=gaussian", "method=extragradient", f"dataset.mu={mu}",
                   f"dataset.sigma={sigma}", "eta=0.01")
    bound = spectrum_at(cfg)["max_stable_lr"]
    s = sigma**2 + mu**2
    stiff = min(np.roots([4.0, 2 * s, 1.0]).real)
    assert bound == pytest.approx(1 / abs(stiff), rel=1e-6)
    res = run_grid(cfg, [0.8 * bound, 1.25 * bound], [1.0, 1.0], 150, diverge_factor=3.0)
    d0 = float(res.initial_distance[0])
    assert res.diverged_at[0] == 0 and float(res.final_distance[0]) < 0.8 * d0
    assert float(res.max_distance[0]) <= d0 * (1 + 1e-6)
    assert res.diverged_at[1] > 0


# --- bad input ------------------------------------------------------------------------------------
NO_ESTIMATE = ("r1", "r2", "extragradient", "optimistic", "cgd")
BAD = [
    (["dataset=gaussian", "method=sga", "engine.amp=bf16"],
     ["engine.amp=bf16", "method=sga", "engine.amp=none"]),
    *[([f"method={m}", "method.regularizer_estimate=unbiased"],
       ["method.regularizer_estimate", "unbiased"]) for m in NO_ESTIMATE],
    (["method=r2", "method.regularizer_estimate=unbiased"],
     ["method.regularizer_estimate='unbiased'", "method=r2", "use same_batch"]),
    (["method=cgd", "method.cg_iters=0"], ["method.cg_iters=0", "integer >= 1"]),
]


@pytest.mark.parametrize("args,fragments", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_rule_settings_are_one_line(in_process, tmp_path, args, fragments):  # noqa: F811
    code, out, err = in_process("gantrain", command("gantrain", args, tmp_path))
    assert_one_line_error(code, err, "gantrain", fragments)
    assert "Traceback" not in out + err
    assert list(tmp_path.rglob("*")) == []


def test_every_second_order_rule_refuses_bf16_and_every_other_rule_unbiased():
    """The checks behind the command-line cases above, for every rule (one composed config,
    its method swapped: composing costs ~0.5 s a time)."""
    from omegaconf import open_dict

    from gantrain.config import validate
    from gantrain.config.precision import check_engine
    from gantrain.errors import ConfigError

    cfg = make_cfg("dataset=gaussian", "engine.amp=bf16")
    for m in ("sga", "r1", "r2", "cgd"):
        with open_dict(cfg):
            cfg.method = {"name": m}
        with pytest.raises(ConfigError, match=f"engine.amp=bf16 is invalid with method={m}"):
            check_engine(cfg)
    for m in ("simgd", "extragradient", "optimistic"):   # first-order rules may use it
        with open_dict(cfg):
            cfg.method = {"name": m}
        check_engine(cfg)
    with open_dict(cfg):
        cfg.engine.amp = "none"
    for m in NO_ESTIMATE:
        with open_dict(cfg):
            cfg.method = {"name": m, "regularizer_estimate": "unbiased"}
        with pytest.raises(ConfigError) as e:
            validate(cfg)
        line = str(e.value)
        assert "\n" not in line and f"method={m}" in line and "use same_batch" in line
        assert line.startswith("method.regularizer_estimate='unbiased' is invalid")


def test_unbiased_refusal_does_not_contradict_itself(in_process, tmp_path):  # noqa: F811
    code, _, err = in_process("gantrain", command(
        "gantrain", ["method=r1", "method.regularizer_estimate=unbiased"], tmp_path))
    assert_one_line_error(code, err, "gantrain", ["method.regularizer_estimate"])
    assert "has no key regularizer_estimate" not in err


def test_validate_refuses_bf16_for_second_order_rules():
    from gantrain.config import validate
    from gantrain.errors import ConfigError

    with pytest.raises(ConfigError, match="engine.amp=bf16"):
        validate(make_cfg("dataset=gaussian", "method=sga", "engine.amp=bf16"))
