"""`make appc`: JARE App. C's claim at the appendix's points (docs/methods.md §2.3).

On the Gaussian game with n = 1 and the minimax loss, ∇²_φφ f = −t² at every point with θ ≠ 0. For
a θ > 0 the φ with ∇_θ f(φ, θ) = 0 (θ is the discriminator's best response) removes the cross term
∇²_φθ f ∇_θ f from every generator update, so what is left is the appendix's first two terms:
ConOpt's generator follows (1 − γt²)∇_φ f and reverses exactly when γt² > 1, gradnorm's (Γ = −Mᵀ)
follows −γt²∇_φ f and always reverses, JARE's follows ∇_φ f and never does. The point and t² come
from the game's exact expected losses (Gauss–Hermite quadrature); the cosines from each rule's
direction there (``gantrain.analysis.conditions.flow_reversal``). Writes appc.json and appc.md.

    python -m gantrain.analysis.appc [OUT_DIR]      (make appc: outputs/report/appc)
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gantrain.analysis.conditions import flow_reversal
from gantrain.games.gaussian import GaussianGame
from gantrain.rules import build_rule

SETTINGS = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "appc.yaml")
MU, SIGMA, ORDER = float(SETTINGS.mu), float(SETTINGS.sigma), int(SETTINGS.quadrature_order)
THETAS = tuple(float(t) for t in SETTINGS.thetas)


def build(phi: float, theta: float) -> GaussianGame:
    """The n = 1 Gaussian game (minimax, linear D) at (φ, θ), float64."""
    data = OmegaConf.create({"dim": 1, "mu": MU, "sigma": SIGMA, "init_offset": 0.0,
                             "init_phi": [phi], "init_theta": [theta]})
    return GaussianGame(data, OmegaConf.create({"name": "linear"}), "minimax", "cpu", torch.float64)


def app_c_point(theta: float) -> tuple[float, float]:
    """Returns (φ, t²): ∇_θ f(φ, θ) = 0 (bisection in φ) and ∇²_φφ f(φ, θ) = −t²."""
    def grad_theta(phi: float) -> float:   # ∇_θ f = −∇_θ L_D (minimax: L_D = −f)
        game = build(phi, theta)
        loss_d, _ = game.expected_losses(ORDER)
        return -float(torch.autograd.grad(loss_d, game.d_params())[0])

    lo, hi = MU - 6.0, MU   # ∇_θ f > 0 far below the data, < 0 at φ = v (θ > 0)
    if not grad_theta(lo) > 0 > grad_theta(hi):
        raise ValueError(f"theta={theta}: no best-response φ in [{lo}, {hi}]; use θ > 0")
    for _ in range(64):   # to rounding: the bracket is 6 wide
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if grad_theta(mid) > 0 else (lo, mid)
    phi = 0.5 * (lo + hi)
    game = build(phi, theta)
    _, loss_g = game.expected_losses(ORDER)          # L_G = f
    (g,) = torch.autograd.grad(loss_g, game.g_params(), create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), game.g_params())
    return phi, -float(h)


def cos_g(method: str, gamma: float, phi: float, theta: float) -> float:
    """The generator's flow cosine of ``method`` at (φ, θ), exact expectation."""
    game = build(phi, theta)
    rule = build_rule(method, gamma, {})
    losses = [game.expected_losses(ORDER)]
    return flow_reversal(rule, game, losses, losses, game.zero_sum)["flow_cos_g"]


def table(thetas=THETAS) -> list[dict]:
    """One row per θ: the point, t², 1/t² and the generator's cosines of the rules App. C names."""
    rows = []
    for theta in thetas:
        phi, t2 = app_c_point(theta)
        threshold = 1 / t2
        cases = {k: (case.method, float(case.gamma_t2) * threshold if "gamma_t2" in case
                     else float(case.gamma)) for k, case in SETTINGS.cases.items()}
        rows.append({"theta": theta, "phi": phi, "t2": t2, "gamma_threshold": threshold,
                     "flow_cos_g": {k: cos_g(m, g, phi, theta) for k, (m, g) in cases.items()}})
    return rows


def markdown(rows: list[dict]) -> str:
    keys = list(rows[0]["flow_cos_g"])
    head = (f"JARE App. C on the Gaussian game (n = 1, μ = {MU}, σ = {SIGMA}, minimax): the "
            "generator's flow cosine cos∠(u_φ, ∇_φ f) at points with ∇_θ f = 0 (−1: reversed)\n\n")
    lines = ["| θ | φ | t² | 1/t² | " + " | ".join(keys) + " |",
             "|---" * (4 + len(keys)) + "|"]
    for r in rows:
        cells = [f"{r['theta']:g}", f"{r['phi']:.6f}", f"{r['t2']:.4f}",
                 f"{r['gamma_threshold']:.3f}"] + [f"{r['flow_cos_g'][k]:+.3f}" for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    from gantrain.tracking import write_json

    out = Path(argv[0] if argv else "outputs/report/appc")
    out.mkdir(parents=True, exist_ok=True)
    rows = table()
    write_json(out / "appc.json", {"mu": MU, "sigma": SIGMA, "rows": rows})
    text = markdown(rows)
    (out / "appc.md").write_text(text)
    print(text + f"\nwrote {out}/appc.json, appc.md")


if __name__ == "__main__":
    main(sys.argv[1:])
