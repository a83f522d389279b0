"""The App. C formulas as docs/results.md, docs/methods.md and gantrain/rules/flow.py write them, against
autograd of the JARE appendix's ConOpt update (its eq. (28): w ← w + η∇̃f − ½ηγ∇‖∇f‖², the
generator descending f) on a quadratic game whose ∇²_φφ f = −t²I, as App. C assumes."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
T2, GAMMA, ETA = 0.7, 3.0, 0.1


def game():
    """f(φ, θ) = −t²/2‖φ‖² + φᵀCθ + ½θᵀBθ + aᵀφ + bᵀθ at a random point: its gradients, C and
    the generator's next iterate under eq. (28)."""
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    c, b, a, bb = rand(3, 2), rand(2, 2), rand(3), rand(2)
    phi, theta = rand(3).requires_grad_(), rand(2).requires_grad_()
    f = -T2 / 2 * phi @ phi + phi @ c @ theta + 0.5 * theta @ (b + b.T) @ theta + a @ phi + bb @ theta
    g_phi, g_theta = torch.autograd.grad(f, (phi, theta), create_graph=True)
    sq = 0.5 * (g_phi @ g_phi + g_theta @ g_theta)
    (d_sq,) = torch.autograd.grad(sq, phi)
    phi_next = phi - ETA * g_phi - ETA * GAMMA * d_sq   # eq. (28), the φ block
    return phi.detach(), g_phi.detach(), g_theta.detach(), c, phi_next.detach()


def sign(text: str, pattern: str) -> float:
    m = re.search(pattern, text)
    assert m, pattern
    return {"+": 1.0, "−": -1.0}[m.group(1)]


@pytest.mark.parametrize("path,pattern", [
    ("docs/results.md", r"\(1 − γt²\)∇_φ f ([+−]) γ∇²_φθ f∇_θ f"),
    ("gantrain/rules/flow.py", r"\(1 − γt²\)∇_φf ([+−]) γ∇²_φθf∇_θf"),
])
def test_conopt_generator_direction_as_written(path, pattern):
    phi, g_phi, g_theta, c, phi_next = game()
    s = sign((ROOT / path).read_text(), pattern)
    direction = (1 - GAMMA * T2) * g_phi + s * GAMMA * c @ g_theta   # descent: φ ← φ − η·direction
    torch.testing.assert_close(phi - ETA * direction, phi_next, rtol=1e-12, atol=1e-12)


def test_conopt_generator_update_as_methods_md_writes_it():
    phi, g_phi, g_theta, c, phi_next = game()
    s = sign((ROOT / "docs" / "methods.md").read_text(),
             r"φ \+ η\(γt² − 1\)∇_φ f ([+−]) ηγ∇²_θφ f∇_θ f")
    torch.testing.assert_close(phi + ETA * (GAMMA * T2 - 1) * g_phi + s * ETA * GAMMA * c @ g_theta,
                               phi_next, rtol=1e-12, atol=1e-12)
