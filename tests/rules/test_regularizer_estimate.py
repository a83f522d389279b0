"""The same-batch regularizer is biased by Var/(2B); the two-half-batch one is not (docs/methods.md §3).

On the Gaussian game with the wgan loss the per-example discriminator gradient is φ + z − x, so
E[½‖ḡ_θ‖²] = ½‖φ − v‖² + σ²n/B exactly (per-example variance 2σ²n), while ½⟨g_A, g_B⟩ of two
independent halves has expectation ½‖φ − v‖².
"""
from __future__ import annotations

import pytest
import torch

from gantrain.config import validate
from gantrain.games import build_game
from gantrain.rules import build_rule
from tests.helpers import make_cfg


def two_sample_direction(cfg, estimate: str, seed: int | None = None):
    """ConOpt's (γ = 0.7) direction at batch 2 under ``estimate``, in float64: (every gradient
    flattened, reg_grad_d, reg_grad_g). ``seed`` seeds torch before the game is built."""
    if seed is not None:
        torch.manual_seed(seed)
    game = build_game(validate(cfg), dtype=torch.float64)
    rule = build_rule("conopt", 0.7, {"regularizer_estimate": estimate})
    sgd = lambda ps: torch.optim.SGD(ps, lr=0.0)  # noqa: E731
    stats = rule.train_step(game, sgd(game.d_params()), sgd(game.g_params()), 2,
                            torch.Generator().manual_seed(3))
    grads = torch.cat([p.grad.reshape(-1) for p in (*game.g_params(), *game.d_params())])
    return grads, stats["reg_grad_d"], stats["reg_grad_g"]

B, DRAWS, SIGMA, N = 4, 4000, 1.0, 2


def regularizer_samples(estimate: str) -> torch.Tensor:
    cfg = make_cfg("dataset=gaussian", "loss=wgan", "dtype=float64", f"dataset.sigma={SIGMA}",
                   f"dataset.dim={N}", "dataset.mu=1.0", "dataset.init_phi=[1.0,2.0]")
    game = build_game(validate(cfg), dtype=torch.float64)      # φ − v = (1, 1): ½‖E g_θ‖² = 1
    rule = build_rule("jare", 1.0, {"regularizer_estimate": estimate})
    sgd = lambda ps: torch.optim.SGD(ps, lr=0.0)  # noqa: E731  (measure, don't move)
    opt_d, opt_g = sgd(game.d_params()), sgd(game.g_params())
    rng = torch.Generator().manual_seed(0)
    return torch.stack([rule.train_step(game, opt_d, opt_g, B, rng)["reg_grad_d"]
                        for _ in range(DRAWS)])


@pytest.mark.slow   # 4000 draws each (the variance_corrected one ~30 s)
@pytest.mark.parametrize("estimate,expected", [
    ("same_batch", 1.0 + SIGMA**2 * N / B),   # ½‖E v‖² + Var/(2B)
    ("unbiased", 1.0),
    # ½‖v̄‖² − S²/(2B − 2), the Numerics supplement's (torch.func per-sample gradients: ~30 s)
    pytest.param("variance_corrected", 1.0, marks=pytest.mark.long),
])
def test_regularizer_expectation(estimate, expected):
    r = regularizer_samples(estimate)
    stderr = r.std().item() / DRAWS**0.5
    assert abs(r.mean().item() - expected) < 5 * stderr, (r.mean().item(), expected, stderr)
    # and it is far from the other estimator's expectation
    other = 1.0 if estimate == "same_batch" else 1.0 + SIGMA**2 * N / B
    assert abs(r.mean().item() - other) > 10 * stderr


def test_unbiased_needs_an_even_batch():
    from gantrain.config import validate
    from gantrain.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_size"):
        validate(make_cfg("method=jare", "method.regularizer_estimate=unbiased", "batch_size=7"))


def test_variance_corrected_at_two_samples_is_the_half_batch_product():
    """At B = 2 the supplement's estimate is exactly ½⟨v_1, v_2⟩ (S² = ¼‖v_1 − v_2‖²), the
    half-batch estimate with halves of one sample: same value and direction on the same batch,
    one computed from torch.func per-sample gradients, the other from two autograd halves."""
    cfg = make_cfg("dataset=gaussian", "dtype=float64", "dataset.dim=2", "dataset.mu=1.0",
                   "dataset.init_phi=[0.3,2.0]", "dataset.init_theta=[0.5,-0.4]")
    out = {e: two_sample_direction(cfg, e) for e in ("unbiased", "variance_corrected")}
    for a, b in zip(out["unbiased"], out["variance_corrected"]):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
