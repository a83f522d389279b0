"""`simgd`: both players follow their own gradients (simultaneous gradient descent)."""
from gantrain.rules.options import MethodOptions
from gantrain.rules.simultaneous import SimultaneousRule


class SimGD(SimultaneousRule):
    name = "simgd"
    Options = MethodOptions
    uses_gamma = False
    plain_field = True
    color = "tab:blue"
    penalize_generator = "none"
    penalize_discriminator = "none"

    @classmethod
    def gaussian_quadratic(cls, s, gamma):
        """Theorem 1: 4λ² + 2sλ + 1 = 0, λ = (−s ± √(s² − 4))/4."""
        return (4, 2 * s, 1)

    @classmethod
    def fullrank_coefficients(cls, p2, q, gamma):
        """M itself: trace −q, determinant p²."""
        return (q, p2)
