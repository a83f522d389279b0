"""`extragradient` (Korpelevich 1976; Gidel et al. 2019), docs/methods.md §8.

One step looks ahead and then steps from where it started:

    w_{k+½} = w_k − η v(w_k),    w_{k+1} = w_k − η v(w_{k+½}),

v the plain simultaneous gradient, each of the two gradients on its own fresh batch (the stochastic
extragradient of Gidel et al.). Both half-steps go through the optimizers, so a stateful optimizer
(Adam, RMSProp) updates its statistics twice per step, as Gidel et al.'s Extra-Adam does. With SGD
the map is exactly the one above: `gantrain-analyze` gives its multipliers 1 + ηλ + η²λ² (λ the
eigenvalues of the SimGD field's Jacobian) and its equivalent field, whose Jacobian is J + ηJ².
"""
from __future__ import annotations

from gantrain.lazy import torch
from gantrain.rules.base import Delegating, UpdateRule, apply
from gantrain.rules.flow import flow_cosines
from gantrain.rules.options import SameBatchOptions
from gantrain.rules.simgd import SimGD


class TwoPointRule(Delegating, UpdateRule):
    """A rule that combines plain gradients taken at two points (this step's and another).

    Analysed through SimGD's field J (``map_of``): its equivalent field, to first order in the
    step lr, has Jacobian J + lr·J², eigenvalues λ + lr·λ²; its exact multipliers come from
    gantrain.analysis.stability."""

    Options = SameBatchOptions
    uses_gamma = False
    map_of = SimGD

    def __init__(self, gamma: float = 0.0, **options):
        super().__init__(gamma, **options)
        self._rule = SimGD()

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """The equivalent field's λ + lr·λ² of SimGD's ±ia: −lr·a² ± ia."""
        rot = SimGD.dirac_eigenvalues(gamma, lr)
        return rot + lr * rot**2

    @classmethod
    def gaussian_eigenvalues(cls, mu, sigma, n, gamma, lr):
        """The equivalent field's λ + lr·λ² of Theorem 1's λ."""
        lam = SimGD.gaussian_eigenvalues(mu, sigma, n, gamma, lr)
        return lam + lr * lam**2

    @classmethod
    def equivalent_eigenvalues(cls, jacobian, eigenvalues, lr):
        import numpy as np

        if jacobian is None:
            return eigenvalues + lr * eigenvalues**2
        return np.linalg.eigvals(jacobian + lr * jacobian @ jacobian)

    @classmethod
    def map_multipliers(cls, jacobian, eigenvalues, n_g, lr, options):
        """Eigenvalues of the SGD map linearized at a rest point, J the Jacobian of the plain
        (SimGD) field −v; from J's eigenvalues alone when ``jacobian`` is None (a top-k spectrum:
        both maps are polynomials in J)."""
        raise NotImplementedError

    def plain(self, game, batch_size, rng):
        """v at the current point on a fresh batch (reduced under torch.distributed)."""
        x, z = game.sample_batch(batch_size, rng)
        return self._rule.direction([self.losses(game, x, z)], game.d_params(), game.g_params(),
                                    zero_sum=game.zero_sum)


class Extragradient(TwoPointRule):
    name = "extragradient"
    color = "darkorange"
    ensemble_refusal = "it steps through the optimizers twice per step"

    @classmethod
    def map_multipliers(cls, jacobian, eigenvalues, n_g, lr, options):
        """I + hJ + h²J² (w ↦ w + hF(w + hF(w))), or 1 + hλ + h²λ² from the eigenvalues λ."""
        import numpy as np

        if jacobian is None:
            lam = np.asarray(eigenvalues, dtype=complex).reshape(-1)
            return 1 + lr * lam + (lr * lam) ** 2
        eye = np.eye(jacobian.shape[0])
        return np.linalg.eigvals(eye + lr * jacobian + lr * lr * jacobian @ jacobian)

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        d_params, g_params = game.d_params(), game.g_params()
        start = [p.detach().clone() for p in (*d_params, *g_params)]
        look = self.plain(game, batch_size, rng)
        apply(look.u_d, d_params, opt_d)          # to w_{k+½}
        apply(look.u_g, g_params, opt_g)
        out = self.plain(game, batch_size, rng)   # v(w_{k+½})
        with torch.no_grad():
            for p, s in zip((*d_params, *g_params), start):
                p.copy_(s)
        apply(out.u_d, d_params, opt_d)           # from w_k
        apply(out.u_g, g_params, opt_g)
        # the flow diagnostic: the look-ahead's gradient is the plain one at w_k
        flow = flow_cosines(out.u_d, out.u_g, look.u_d, look.u_g, self.dot) if self.diagnose else {}
        return {**out.stats, "lookahead_grad_norm_d": look.stats["grad_norm_d"],
                "lookahead_grad_norm_g": look.stats["grad_norm_g"], **flow}
