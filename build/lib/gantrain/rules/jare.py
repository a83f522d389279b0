"""`jare`: Jacobian regularization: each player gets γ∇ of ½ the other's squared gradient norm
(Nie & Patel 2019)."""
from gantrain.rules.simultaneous import SimultaneousRule


class JARE(SimultaneousRule):
    name = "jare"
    color = "tab:green"
    penalize_generator = "cross"
    penalize_discriminator = "cross"

    @classmethod
    def gaussian_quadratic(cls, s, gamma):
        """Theorem 3."""
        return (2, gamma + s, gamma**2 / 8 + 0.5)

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """App. B: the field's Jacobian M − γKM, K the off-diagonal part of Mᵀ."""
        g = gamma
        return (q + 2 * g * p2, p2 + g**2 * p2**2)
