"""`simgd`: both players follow their own gradients (simultaneous gradient descent)."""
from gantrain.rules.base import SimultaneousRule, register


@register("simgd")
class SimGD(SimultaneousRule):
    uses_gamma = False
    penalize_generator = "none"
    penalize_discriminator = "none"
