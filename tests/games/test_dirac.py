"""The DiracGAN (gantrain/games/dirac.py, gantrain.analysis.theory.dirac_eigenvalues) against
Mescheder et al. 2018's closed forms: losses written out here, Jacobians by hand and by finite
differences of the real SGD step, and training runs of the known (non-)convergent methods."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from gantrain.analysis.jacobian import field_jacobian
from gantrain.analysis.spectrum import move_to_point
from gantrain.analysis.theory import DIRAC_CLOSED_FORM, dirac_eigenvalues
from gantrain.config import validate
from gantrain.errors import ConfigError
from gantrain.games import build_game
from gantrain.rules import RULES, build_rule
from gantrain.train import train
from tests.helpers import make_cfg

A = 0.5   # f′(0) for f(t) = −log(1 + e^{−t})
needs = lambda *names: pytest.mark.skipif(  # noqa: E731
    any(n not in RULES for n in names), reason=f"needs the rules {names}")


def softplus(t):
    return math.log1p(math.exp(-abs(t))) + max(t, 0.0)


def sigmoid(t):
    return 1 / (1 + math.exp(-t))


def plain_u(phi, theta, loss="minimax"):
    """u = (∂L_G/∂φ, ∂L_D/∂θ) written out: L_D = log 2 + softplus(θφ); L_G = −L_D (minimax) or
    softplus(−θφ) (standard)."""
    s = sigmoid(theta * phi)
    u_phi = -s * theta if loss == "minimax" else -sigmoid(-theta * phi) * theta
    return np.array([u_phi, s * phi])


def fd_jacobian(fn, w, h=1e-6) -> np.ndarray:
    """Central differences, columns in (φ, θ) order."""
    w = np.asarray(w, dtype=float)
    cols = []
    for k in range(w.size):
        e = np.zeros_like(w)
        e[k] = h
        cols.append((np.asarray(fn(w + e)) - np.asarray(fn(w - e))) / (2 * h))
    return np.stack(cols, axis=1)


def assert_same_spectrum(numeric, expected, tol=1e-8):
    numeric, expected = np.asarray(numeric, complex), np.asarray(expected, complex)
    assert numeric.shape == expected.shape
    cost = np.abs(numeric[:, None] - expected[None, :])
    r, c = linear_sum_assignment(cost)
    err = cost[r, c].max()
    assert err < tol, f"eigenvalues differ by {err:.2e}: {np.sort_complex(numeric)} vs " \
                      f"{np.sort_complex(expected)}"


def dirac_game(*overrides):
    return build_game(validate(make_cfg("dataset=dirac", "dtype=float64", *overrides)), "cpu", torch.float64)


def put(game, w):
    with torch.no_grad():
        game.generator.phi.fill_(float(w[0]))
        game.discriminator.theta.fill_(float(w[1]))


def point(game) -> np.ndarray:
    return np.array([game.generator.phi.item(), game.discriminator.theta.item()])


def sgd_step_map(game, method, gamma, lr, options=None):
    """w ↦ the parameters after one real train_step with plain SGD at lr from w."""
    def step(w):
        rule = build_rule(method, gamma, options or {})
        opt_d = torch.optim.SGD(game.d_params(), lr=lr)
        opt_g = torch.optim.SGD(game.g_params(), lr=lr)
        put(game, w)
        rule.train_step(game, opt_d, opt_g, 1, torch.Generator().manual_seed(0))
        return point(game)
    return step


# --- the game ------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["minimax", "standard"])
def test_losses_are_the_closed_form_for_any_batch_and_quadrature(loss):
    game = dirac_game(f"loss={loss}")
    rng = torch.Generator().manual_seed(0)
    for phi, theta in [(1.0, 1.0), (-0.7, 2.0), (0.0, 0.0), (3.0, -1.5)]:
        put(game, (phi, theta))
        ld = math.log(2) + softplus(theta * phi)
        lg = -ld if loss == "minimax" else softplus(-theta * phi)
        for n in (1, 5):
            x, z = game.sample_batch(n, rng)
            assert torch.count_nonzero(x) == 0 and torch.count_nonzero(z) == 0   # δ₀, G(z) = φ
            got = game.losses(x, z)
            assert [t.item() for t in got] == pytest.approx([ld, lg], abs=1e-14)
        for order in (1, 3, 8):   # σ = 0: every node is the same point, weights sum to 1
            got = game.expected_losses(order)
            assert [t.item() for t in got] == pytest.approx([ld, lg], abs=1e-14)
        m = game.eval_metrics()
        assert m["dist_generator"] == pytest.approx(abs(phi))
        assert m["dist_discriminator"] == pytest.approx(abs(theta))
        assert m["dist_equilibrium"] == pytest.approx(math.hypot(phi, theta))


def test_config_start_and_equilibrium():
    game = dirac_game("dataset.init_phi=0.3", "dataset.init_theta=-2")
    assert point(game).tolist() == [0.3, -2.0]
    assert move_to_point(game, "equilibrium", "cpu") == "equilibrium"
    assert point(game).tolist() == [0.0, 0.0]
    assert game.eval_metrics()["dist_equilibrium"] == 0.0


@pytest.mark.parametrize("override,fragments", [
    ("loss=wgan", ["loss='wgan'", "dataset=dirac", "minimax, standard"]),
    ("loss=hinge", ["loss='hinge'", "minimax, standard"]),
    ("arch=fullrank", ["arch='fullrank'", "dataset=dirac", "linear"]),
])
def test_other_losses_and_architectures_are_refused_in_one_line(override, fragments):
    with pytest.raises(ConfigError) as e:
        dirac_game(override)
    msg = str(e.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, msg


# --- the Jacobian at the equilibrium -------------------------------------------------------------
@pytest.mark.parametrize("loss", ["minimax", "standard"])
def test_simgd_jacobian_is_a_rotation_by_f_prime_0(loss):
    """Mescheder et al.: ±f′(0)i = ±i/2, from the real SGD step map by finite differences and from
    the written-out u."""
    game = dirac_game(f"loss={loss}")
    lr = 0.1
    J_step = (fd_jacobian(sgd_step_map(game, "simgd", 0.0, lr), [0.0, 0.0]) - np.eye(2)) / lr
    J_hand = -fd_jacobian(lambda w: plain_u(*w, loss=loss), [0.0, 0.0])
    np.testing.assert_allclose(J_step, [[0, A], [-A, 0]], atol=1e-9)
    np.testing.assert_allclose(J_hand, [[0, A], [-A, 0]], atol=1e-9)
    assert_same_spectrum(np.linalg.eigvals(J_step), [0.5j, -0.5j], tol=1e-9)
    assert_same_spectrum(dirac_eigenvalues("simgd", 1.0, lr), np.linalg.eigvals(J_hand), 1e-9)


def hand_matrix(method: str, gamma: float, lr: float) -> np.ndarray | None:
    """The field's Jacobian at the equilibrium from the definitions, with H = ∂u/∂w of the
    written-out u (only first derivatives of u survive where u = 0)."""
    H = fd_jacobian(lambda w: plain_u(*w), [0.0, 0.0])
    I = np.eye(2)
    if method in ("simgd", "altgd"):      # AltGD's field is the plain one
        return -H
    if method == "conopt":                 # u + γ∇½‖u‖²: Jacobian H + γHᵀH
        return -(H + gamma * H.T @ H)
    if method == "gradnorm":
        return -gamma * H.T @ H
    # JARE: φ gets γ∇_φ ½u_θ², θ gets γ∇_θ ½u_φ²: rows H[1,0]·H[1,:] and H[0,1]·H[0,:]
    cross_g = H[1, 0] * H[1, :]
    cross_d = H[0, 1] * H[0, :]
    full = H.T @ H
    rows = {"jare": (cross_g, cross_d), "jare_g": (cross_g, 0 * cross_d),
            "jare_d": (0 * cross_g, cross_d), "conopt_g": (full[0], 0 * full[1]),
            "conopt_d": (0 * full[0], full[1])}
    if method in rows:
        return -(H + gamma * np.stack(rows[method]))
    if method == "sga":                    # u + γAᵀu, A = (H − Hᵀ)/2
        Aa = (H - H.T) / 2
        return -(H + gamma * Aa.T @ H)
    if method in ("r1", "r2"):             # ∇ₓD(x) = θ: penalty γθ²/2 on D's loss
        return -(H + gamma * np.diag([0.0, 1.0]))
    if method == "extragradient":          # w − lr·u(w − lr·u(w)): map Jacobian I − lrH + lr²H²
        return (-lr * H + lr**2 * H @ H) / lr
    if method == "cgd":                    # (I + ηH_off)⁻¹u, η = lr, H_off: H's off-diagonal blocks
        H_off = H * np.array([[0, 1], [1, 0]])
        return -np.linalg.solve(I + lr * H_off, H)
    return None


@pytest.mark.parametrize("gamma,lr", [(1.0, 0.1), (0.3, 0.05), (4.0, 0.3)])
@pytest.mark.parametrize("method", [m for m in DIRAC_CLOSED_FORM if m != "optimistic"])
def test_closed_form_matches_the_hand_matrix(method, gamma, lr):
    assert_same_spectrum(dirac_eigenvalues(method, gamma, lr),
                         np.linalg.eigvals(hand_matrix(method, gamma, lr)), tol=1e-8)


@pytest.mark.parametrize("lr", [0.1, 0.03])
def test_optimistic_closed_form_is_its_multipliers_to_second_order(lr):
    """OGD on the linearized game is the map (w, w_prev) ↦ ((I − 2lrH)w + lrHw_prev, w): its two
    dominant multipliers are 1 + lr·λ with λ the closed form, up to O(lr³) in λ."""
    H = fd_jacobian(lambda w: plain_u(*w), [0.0, 0.0])
    C = np.block([[np.eye(2) - 2 * lr * H, lr * H], [np.eye(2), np.zeros((2, 2))]])
    mu = np.linalg.eigvals(C)
    mu = mu[np.argsort(-np.abs(mu))][:2]
    assert_same_spectrum((mu - 1) / lr, dirac_eigenvalues("optimistic", 1.0, lr), tol=0.1 * lr**3)


def test_unknown_method_has_no_closed_form():
    assert dirac_eigenvalues("nosuch", 1.0, 0.1) is None


FIELD_RULES = ["simgd", "conopt", "jare", "conopt_g", "conopt_d", "jare_g", "jare_d", "gradnorm",
               "sga", "r1", "r2", "cgd"]


@pytest.mark.parametrize("method", FIELD_RULES)
def test_field_jacobian_of_the_rules_is_the_closed_form(method):
    """The rules' own field (autograd through ``rule.direction``) at the equilibrium."""
    if method not in RULES:
        pytest.skip(f"needs the rule {method}")
    gamma, lr = 1.7, 0.2
    game = dirac_game()
    move_to_point(game, "equilibrium", "cpu")
    rule = build_rule(method, gamma, {"eta": lr} if method == "cgd" else {})
    losses = rule.expected_losses(game, 4)   # R1/R2 add their penalty to the game's losses
    J = field_jacobian(rule, losses, game.d_params(), game.g_params(), zero_sum=game.zero_sum)
    assert_same_spectrum(np.linalg.eigvals(J.numpy()), dirac_eigenvalues(method, gamma, lr), 1e-9)


@needs("r1", "r2")
@pytest.mark.parametrize("method", ["r1", "r2"])
@pytest.mark.parametrize("gamma", [0.5, 1.0, 3.0])
def test_r1_r2_step_map_has_the_damped_spectrum(method, gamma):
    """Mescheder et al.'s Theorem: −γ/2 ± √(γ²/4 − f′(0)²), from the real SGD step map."""
    lr = 0.05
    game = dirac_game()
    J = (fd_jacobian(sgd_step_map(game, method, gamma, lr), [0.0, 0.0]) - np.eye(2)) / lr
    disc = np.sqrt(complex(gamma**2 / 4 - A**2))
    # characteristic polynomials: at γ = 1 the root is double, and its eigenvalues would move by
    # √(finite-difference error)
    np.testing.assert_allclose(np.poly(J), np.poly([-gamma / 2 + disc, -gamma / 2 - disc]).real,
                               atol=1e-8)
    np.testing.assert_allclose(np.poly(J), np.poly(dirac_eigenvalues(method, gamma, lr)).real,
                               atol=1e-8)


@needs("extragradient")
def test_extragradient_step_map_is_the_closed_form_field():
    lr = 0.2
    game = dirac_game()
    J = (fd_jacobian(sgd_step_map(game, "extragradient", 0.0, lr), [0.0, 0.0]) - np.eye(2)) / lr
    assert_same_spectrum(np.linalg.eigvals(J), dirac_eigenvalues("extragradient", 0.0, lr), 1e-8)


@needs("optimistic")
def test_optimistic_real_two_step_map_has_the_closed_form_multipliers():
    """The real rule on the state (w_k, w_{k−1}): prime with a step from w_{k−1}, put w_k, step.
    Its Jacobian by finite differences is the hand-written companion matrix."""
    lr = 0.1
    game = dirac_game()

    def state_map(s):
        rule = build_rule("optimistic", 0.0, {})
        opt_d = torch.optim.SGD(game.d_params(), lr=lr)
        opt_g = torch.optim.SGD(game.g_params(), lr=lr)
        rng = torch.Generator().manual_seed(0)
        put(game, s[2:])                       # w_{k−1}: its gradient becomes the rule's memory
        rule.train_step(game, opt_d, opt_g, 1, rng)
        put(game, s[:2])
        rule.train_step(game, opt_d, opt_g, 1, rng)
        return np.concatenate([point(game), s[:2]])

    T = fd_jacobian(state_map, np.zeros(4))
    H = fd_jacobian(lambda w: plain_u(*w), [0.0, 0.0])
    C = np.block([[np.eye(2) - 2 * lr * H, lr * H], [np.eye(2), np.zeros((2, 2))]])
    np.testing.assert_allclose(T, C, atol=1e-9)
    mu = np.linalg.eigvals(T)
    mu = mu[np.argsort(-np.abs(mu))][:2]
    assert_same_spectrum((mu - 1) / lr, dirac_eigenvalues("optimistic", 0.0, lr), tol=1e-4)


# --- training ------------------------------------------------------------------------------------
def dists(run_dir) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["dist_equilibrium"] for line in lines]


def test_simgd_run_end_to_end_never_gets_closer(tmp_path):
    """`gantrain dataset=dirac method=simgd`: −u ⊥ w, so every SGD step multiplies ‖w‖² by
    1 + lr²σ(θφ)²: the distance to the equilibrium only grows (Mescheder et al.)."""
    cfg = make_cfg("dataset=dirac", "method=simgd", "steps=200", "checkpoint_every=200")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["steps_done"] == 200
    metrics = summary["metrics"]
    assert {"dist_equilibrium", "dist_generator", "dist_discriminator"} <= set(metrics)
    d = dists(tmp_path)
    assert len(d) == 200 // 20 + 1 and d[0] == pytest.approx(math.sqrt(2))
    assert all(b > a for a, b in zip(d, d[1:])), d
    assert metrics["dist_equilibrium"] == pytest.approx(d[-1])
    assert metrics["dist_equilibrium"] > d[0]


@pytest.mark.slow
@pytest.mark.parametrize("method,steps", [
    pytest.param("extragradient", None, marks=needs("extragradient")),
    pytest.param("optimistic", None, marks=needs("optimistic")),
    pytest.param("sga", 300, marks=needs("sga")),        # −γ/4 ± i/2: 10× in ~100 steps
])
def test_converging_methods_shrink_the_distance_tenfold(tmp_path, method, steps):
    """Within conf/dataset/dirac.yaml's 2000 steps at eta 0.1 (extragradient and optimistic: the
    multiplier modulus is 1 − lr²/8 + O(lr⁴), 12× over 2000 steps)."""
    overrides = ["dataset=dirac", f"method={method}", "checkpoint_every=2000", "log_every=2000"]
    if steps is not None:
        overrides.append(f"steps={steps}")
    summary = train(make_cfg(*overrides), tmp_path)
    assert summary["status"] == "completed"
    d = dists(tmp_path)   # step 0 and the last step
    assert len(d) == 2 and d[-1] < d[0] / 10, d
