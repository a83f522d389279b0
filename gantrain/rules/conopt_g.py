"""`conopt_g`: ConOpt on the generator only (JARE code: simregg1)."""
from gantrain.rules.base import SimultaneousRule, register


@register("conopt_g")
class ConOptG(SimultaneousRule):
    penalize_generator = "full"
    penalize_discriminator = "none"
