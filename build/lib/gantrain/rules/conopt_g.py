"""`conopt_g`: ConOpt on the generator only (JARE code: simregg1)."""
from gantrain.rules.simultaneous import SimultaneousRule


class ConOptG(SimultaneousRule):
    name = "conopt_g"
    color = "tab:pink"
    penalize_generator = "full"
    penalize_discriminator = "none"

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """App. B: the field's Jacobian with the penalty in one player's row only."""
        g = gamma
        return (q + g * p2, p2)
