"""`jare_g`: generator half of JARE, φ gets γ∇_φ ½‖g_θ‖² (JARE code: simregg2; Theorem 2)."""
from gantrain.rules.base import SimultaneousRule, register


@register("jare_g")
class JAREG(SimultaneousRule):
    penalize_generator = "cross"
    penalize_discriminator = "none"
