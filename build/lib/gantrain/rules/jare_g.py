"""`jare_g`: generator half of JARE, φ gets γ∇_φ ½‖g_θ‖² (JARE code: simregg2; Theorem 2)."""
from gantrain.rules.simultaneous import SimultaneousRule


class OneSidedJARE(SimultaneousRule):
    """JARE's penalty on one player only (``jare_g``, ``jare_d``): the same closed forms."""

    @classmethod
    def gaussian_quadratic(cls, s, gamma):
        """Theorem 2: Theorem 1 with s → s + γ/2."""
        return (4, 2 * s + gamma, 1)

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """App. B: the field's Jacobian with the penalty in one player's row only."""
        g = gamma
        return (q + g * p2, p2)


class JAREG(OneSidedJARE):
    name = "jare_g"
    color = "tab:olive"
    penalize_generator = "cross"
    penalize_discriminator = "none"
