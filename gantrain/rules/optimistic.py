"""`optimistic`: optimistic gradient descent (Daskalakis et al. 2018), docs/methods.md §8.

    w_{k+1} = w_k − η (2 v(w_k) − v(w_{k−1})),

v the plain simultaneous gradient on this step's batch; the first step has no previous gradient and
takes v(w_0) alone. The previous gradient is part of the run's state: checkpoints keep it, so a
resumed run continues the same trajectory. Any optimizer takes 2v_k − v_{k−1} as its gradient
(Optimistic Adam, Daskalakis et al.). With SGD, the pair (w_k, w_{k−1}) follows a linear map whose
multipliers μ solve μ² − (1 + 2ηλ)μ + ηλ = 0 for each eigenvalue λ of the SimGD field's Jacobian;
to first order in η its equivalent field has Jacobian J + ηJ², as extragradient's.
"""
from __future__ import annotations

from gantrain.lazy import torch
from gantrain.rules.base import apply
from gantrain.rules.extragradient import TwoPointRule
from gantrain.rules.flow import flow_cosines


class Optimistic(TwoPointRule):
    name = "optimistic"
    color = "teal"
    stateful = True
    ensemble_refusal = "its previous-gradient state is not stacked"

    @classmethod
    def map_multipliers(cls, jacobian, eigenvalues, n_g, lr, options):
        """The map of the pair (w_k, w_{k−1}), [[I + 2hJ, −hJ], [I, 0]]; from the eigenvalues λ,
        the roots of μ² − (1 + 2hλ)μ + hλ = 0."""
        import numpy as np

        h = lr
        if jacobian is None:
            lam = np.asarray(eigenvalues, dtype=complex).reshape(-1)
            b, c = 1 + 2 * h * lam, h * lam
            d = np.sqrt(b * b - 4 * c + 0j)
            return np.concatenate([(b + d) / 2, (b - d) / 2])
        n = jacobian.shape[0]
        eye = np.eye(n)
        top = np.hstack([eye + 2 * h * jacobian, -h * jacobian])
        bottom = np.hstack([eye, np.zeros((n, n))])
        return np.linalg.eigvals(np.vstack([top, bottom]))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (D's, G's) plain gradients of the previous step; None before the first step
        self.previous: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        out = self.plain(game, batch_size, rng)
        prev_d, prev_g = self.previous if self.previous is not None else (out.u_d, out.u_g)
        u_d = [2 * v - p for v, p in zip(out.u_d, prev_d)]
        u_g = [2 * v - p for v, p in zip(out.u_g, prev_g)]
        self.previous = ([v.clone() for v in out.u_d], [v.clone() for v in out.u_g])
        apply(u_d, game.d_params(), opt_d)
        apply(u_g, game.g_params(), opt_g)
        if self.diagnose:   # 2v_k − v_{k−1} against this step's plain gradient v_k
            return {**out.stats, **flow_cosines(u_d, u_g, out.u_d, out.u_g, self.dot)}
        return out.stats

    def state_dict(self) -> dict:
        if self.previous is None:
            return {"previous_d": None, "previous_g": None}
        return {"previous_d": list(self.previous[0]), "previous_g": list(self.previous[1])}

    def load_state_dict(self, state: dict) -> None:
        d, g = state.get("previous_d"), state.get("previous_g")
        self.previous = None if d is None else ([t.clone() for t in d], [t.clone() for t in g])
