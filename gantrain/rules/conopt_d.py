"""`conopt_d`: ConOpt on the discriminator only (JARE code: simregd1), docs/methods.md §2.

u_φ = g_φ, u_θ = g_θ + γ ∇_θ ½(‖g_φ‖² + ‖g_θ‖²).

This is the Numerics of GANs smoothing optimizer as its *text* describes it: the discriminator's
update gets the gradient of ½(‖g_φ‖² + ‖g_θ‖²). The released codes (``SmoothingOptimizer`` in
LMescheder/TheNumericsOfGANs and weilinie/JARE) give it only the gradient of ½‖g_φ‖², which is
`jare_d`. Both are available (docs/methods.md §2.2).
"""
from gantrain.rules.simultaneous import SimultaneousRule


class ConOptD(SimultaneousRule):
    name = "conopt_d"
    color = "tab:brown"
    note = "smoothing, the supplement's text"
    penalize_generator = "none"
    penalize_discriminator = "full"

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """App. B: the field's Jacobian with the penalty in one player's row only."""
        g = gamma
        return (q + g * (p2 + q * q), p2 + g * p2 * q)
