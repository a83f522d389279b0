"""`simgd`: both players follow their own gradients (simultaneous gradient descent)."""
from gantrain.rules.base import SimultaneousRule, register


@register("simgd")
class SimGD(SimultaneousRule):
    penalize_generator = "none"
    penalize_discriminator = "none"
