"""`conopt`: consensus optimization: both players get γ∇R, R = ½‖v‖² (Mescheder et al. 2017)."""
from gantrain.rules.base import SimultaneousRule, register


@register("conopt")
class ConOpt(SimultaneousRule):
    penalize_generator = "full"
    penalize_discriminator = "full"
