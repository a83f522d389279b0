"""`altgd`: the players step in turn, each on a fresh batch drawn after the other's step.

Each phase's gradient (and loss) goes through ``reduce``: the global one under torch.distributed.

ConOpt's released code steps D first, JARE's G first (``d_first``). One call of ``train_step`` is one
round: ``d_steps`` discriminator updates and ``g_steps`` generator updates.
"""
from dataclasses import dataclass

from gantrain.rules.base import UpdateRule, apply
from gantrain.rules.flow import cosine
from gantrain.rules.options import MethodOptions, check, positive_int
from gantrain.rules.simgd import SimGD
from gantrain.rules.tensors import grads


@dataclass
class AltGDOptions(MethodOptions):
    d_first: bool = True   # the discriminator steps first (ConOpt's code; JARE's: false)
    d_steps: int = 1       # discriminator updates per round
    g_steps: int = 1       # generator updates per round

    def __post_init__(self):
        for key in ("d_steps", "g_steps"):
            value = getattr(self, key)
            check(not isinstance(value, (int, float)) or value >= 1, f"method.{key}", value,
                  "must be >= 1")
            positive_int(f"method.{key}", value)


class AltGD(UpdateRule):
    name = "altgd"
    Options = AltGDOptions
    uses_gamma = False
    color = "tab:cyan"
    ensemble_refusal = "it steps the players in turn, each on a fresh batch, through the optimizers"
    map_of = SimGD   # its field is SimGD's; its alternating multipliers are another matter

    def __init__(self, gamma: float = 0.0, **options):
        super().__init__(gamma, **options)
        self.d_first, self.d_steps, self.g_steps = bool(self.d_first), int(self.d_steps), int(self.g_steps)

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """SimGD's field (its alternating multipliers are another matter)."""
        return SimGD.dirac_eigenvalues(gamma, lr)

    @classmethod
    def map_multipliers(cls, jacobian, eigenvalues, n_g, lr, options):
        """The alternating half-steps' multipliers (gantrain.closed_forms); None without a
        dense Jacobian."""
        if jacobian is None:
            return None
        from gantrain.closed_forms import alternating_multipliers

        o = cls.options_of(options)
        return alternating_multipliers(jacobian, n_g, lr, d_first=bool(o.d_first),
                                       d_steps=int(o.d_steps), g_steps=int(o.g_steps))

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        stats = {}

        def step_d():
            params = game.d_params()
            x, z = game.sample_batch(batch_size, rng)
            loss_d, _ = game.losses(x, z)
            *g, loss_d = self.reduce([*grads(loss_d, params, create_graph=False), loss_d.detach()])
            apply(g, params, opt_d)
            n = self.norm(g)
            stats.update(loss_d=loss_d.detach(), grad_norm_d=n, reg_grad_d=0.5 * n**2)
            if self.diagnose:   # each player steps along its own plain gradient: cos = 1
                stats["flow_cos_d"] = cosine(g, g, self.dot)

        def step_g():
            params = game.g_params()
            x, z = game.sample_batch(batch_size, rng)
            _, loss_g = game.losses(x, z)
            *g, loss_g = self.reduce([*grads(loss_g, params, create_graph=False), loss_g.detach()])
            apply(g, params, opt_g)
            n = self.norm(g)
            stats.update(loss_g=loss_g.detach(), grad_norm_g=n, reg_grad_g=0.5 * n**2)
            if self.diagnose:
                stats["flow_cos_g"] = cosine(g, g, self.dot)

        phases = [(step_d, self.d_steps), (step_g, self.g_steps)]
        for phase, count in (phases if self.d_first else phases[::-1]):
            for _ in range(count):
                phase()
        return stats
