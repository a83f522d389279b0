"""`conopt_d`: ConOpt on the discriminator only (JARE code: simregd1)."""
from gantrain.rules.base import SimultaneousRule, register


@register("conopt_d")
class ConOptD(SimultaneousRule):
    penalize_generator = "none"
    penalize_discriminator = "full"
