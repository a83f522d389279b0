"""`conopt`: consensus optimization: both players get γ∇R, R = ½‖v‖² (Mescheder et al. 2017)."""
from gantrain.rules.simultaneous import SimultaneousRule


class ConOpt(SimultaneousRule):
    name = "conopt"
    color = "tab:red"
    penalize_generator = "full"
    penalize_discriminator = "full"
    consensus_bound = True

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """App. B: the field's Jacobian M − γMᵀM."""
        g = gamma
        return (q + g * (2 * p2 + q * q), p2 + g * p2 * q + g**2 * p2**2)
