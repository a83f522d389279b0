"""`jare_d`: discriminator half of JARE, θ gets γ∇_θ ½‖g_φ‖² (simregd2; the Numerics paper's smoothing optimizer)."""
from gantrain.rules.base import SimultaneousRule, register


@register("jare_d")
class JARED(SimultaneousRule):
    penalize_generator = "none"
    penalize_discriminator = "cross"
