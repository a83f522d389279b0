"""`jare`: Jacobian regularization: each player gets γ∇ of ½ the other's squared gradient norm (Nie & Patel 2019)."""
from gantrain.rules.base import SimultaneousRule, register


@register("jare")
class JARE(SimultaneousRule):
    penalize_generator = "cross"
    penalize_discriminator = "cross"
