"""`altgd`: the players step in turn, each on a fresh batch drawn after the other's step.

Each phase's gradient (and loss) goes through ``reduce``: the global one under torch.distributed.

ConOpt's released code steps D first, JARE's G first (``d_first``). One call of ``train_step`` is one
round: ``d_steps`` discriminator updates and ``g_steps`` generator updates.
"""
from gantrain.rules.base import UpdateRule, apply, grads, norm, register
from gantrain.rules.flow import cosine


@register("altgd")
class AltGD(UpdateRule):
    uses_gamma = False
    def __init__(self, gamma: float = 0.0, d_first: bool = True, d_steps: int = 1,
                 g_steps: int = 1, **options):
        super().__init__(gamma, **options)
        for key, value in (("d_steps", d_steps), ("g_steps", g_steps)):
            if int(value) != value or value < 1:
                raise ValueError(f"method.{key}={value!r} is invalid: must be an integer >= 1")
        self.d_first, self.d_steps, self.g_steps = bool(d_first), int(d_steps), int(g_steps)

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        stats = {}

        def step_d():
            params = game.d_params()
            x, z = game.sample_batch(batch_size, rng)
            loss_d, _ = game.losses(x, z)
            *g, loss_d = self.reduce([*grads(loss_d, params, create_graph=False), loss_d.detach()])
            apply(g, params, opt_d)
            stats.update(loss_d=loss_d.detach(), grad_norm_d=norm(g), reg_grad_d=0.5 * norm(g) ** 2)
            if self.diagnose:   # each player steps along its own plain gradient: cos = 1
                stats["flow_cos_d"] = cosine(g, g)

        def step_g():
            params = game.g_params()
            x, z = game.sample_batch(batch_size, rng)
            _, loss_g = game.losses(x, z)
            *g, loss_g = self.reduce([*grads(loss_g, params, create_graph=False), loss_g.detach()])
            apply(g, params, opt_g)
            stats.update(loss_g=loss_g.detach(), grad_norm_g=norm(g), reg_grad_g=0.5 * norm(g) ** 2)
            if self.diagnose:
                stats["flow_cos_g"] = cosine(g, g)

        phases = [(step_d, self.d_steps), (step_g, self.g_steps)]
        for phase, count in (phases if self.d_first else phases[::-1]):
            for _ in range(count):
                phase()
        return stats
