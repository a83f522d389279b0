"""`jare_d`: the discriminator half of JARE (JARE code: simregd2), docs/methods.md §2.

u_φ = g_φ, u_θ = g_θ + γ ∇_θ ½‖g_φ‖².

This is the Numerics of GANs smoothing optimizer as the *released codes* implement it
(``SmoothingOptimizer`` in LMescheder/TheNumericsOfGANs and weilinie/JARE differentiate only
½‖g_φ‖² with respect to the discriminator). The Numerics text instead gives the discriminator the
gradient of ½(‖g_φ‖² + ‖g_θ‖²), which is `conopt_d`. Both are available (docs/methods.md §2.2).
"""
from gantrain.rules.simultaneous import SimultaneousRule


class JARED(SimultaneousRule):
    name = "jare_d"
    color = "tab:purple"
    note = "smoothing, released code"
    penalize_generator = "none"
    penalize_discriminator = "cross"

    @classmethod
    def gaussian_quadratic(cls, s, gamma):
        """Theorem 2: Theorem 1 with s → s + γ/2."""
        return (4, 2 * s + gamma, 1)

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """App. B: the field's Jacobian with the penalty in one player's row only."""
        g = gamma
        return (q + g * p2, p2)
