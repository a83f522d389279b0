"""The continuous-time view of an update rule: w' = −u(w) with w = (φ, θ).

Its Jacobian at a point decides local stability (negative real parts are stable, the papers'
convention). Feed it exact expected losses (e.g. ``GaussianGame.expected_losses``) to get the
Jacobian of the expected update field, or minibatch losses to get a batch's Jacobian.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from gantrain.rules.simultaneous import SimultaneousRule

LossPair = tuple[torch.Tensor, torch.Tensor]


def _flat(ts: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([(torch.zeros_like(p) if t is None else t).reshape(-1) for t, p in zip(ts, like)])


def neg_field(rule: SimultaneousRule, losses: LossPair, d_params, g_params,
              zero_sum: bool = False) -> torch.Tensor:
    """−u as one flat, differentiable vector in (φ, θ) order."""
    out = rule.direction([losses], d_params, g_params, create_graph=True, zero_sum=zero_sum)
    return -torch.cat([t.reshape(-1) for t in (*out.u_g, *out.u_d)])


def field_jacobian(rule: SimultaneousRule, losses: LossPair, d_params: Sequence[torch.Tensor],
                   g_params: Sequence[torch.Tensor], zero_sum: bool = False) -> torch.Tensor:
    """Dense Jacobian of −u with respect to (φ, θ), rows and columns in that order."""
    f = neg_field(rule, losses, d_params, g_params, zero_sum)
    params = [*g_params, *d_params]
    rows = [_flat(torch.autograd.grad(f[i], params, retain_graph=True, allow_unused=True), params)
            for i in range(f.numel())]
    return torch.stack(rows).detach()


class JacobianOperator:
    """v ↦ J v for J the mean over batches of the Jacobians of −u, by Jacobian-vector products
    (the double-backward trick), never materializing J. Usable as a scipy LinearOperator."""

    def __init__(self, rule: SimultaneousRule, batch_losses: Sequence[LossPair], d_params, g_params,
                 zero_sum: bool = False):
        self.params = [*g_params, *d_params]
        self.fields = [neg_field(rule, lp, d_params, g_params, zero_sum) for lp in batch_losses]
        self.n = sum(p.numel() for p in self.params)
        p0 = self.params[0]
        self.dtype, self.device = p0.dtype, p0.device
        # Jᵀs is linear in a dummy s; its graph is built once, and each J v is one backward of it.
        self.dummies, self.transposed = [], []
        for f in self.fields:
            s = torch.zeros_like(f, requires_grad=True)
            jt_s = torch.autograd.grad(f, self.params, grad_outputs=s, create_graph=True,
                                       allow_unused=True)
            self.dummies.append(s)
            self.transposed.append(_flat(jt_s, self.params))

    def matvec(self, v: np.ndarray | torch.Tensor) -> torch.Tensor:
        v = torch.as_tensor(np.asarray(v).real if not isinstance(v, torch.Tensor) else v,
                            dtype=self.dtype, device=self.device).reshape(-1)
        total = torch.zeros(self.n, dtype=self.dtype, device=self.device)
        for s, jt_s in zip(self.dummies, self.transposed):
            if jt_s.requires_grad:
                total += torch.autograd.grad(jt_s, s, grad_outputs=v, retain_graph=True)[0]
        return (total / len(self.fields)).detach()

    def dense(self) -> torch.Tensor:
        """J by rows of the fields (for models small enough)."""
        total = torch.zeros(self.n, self.n, dtype=self.dtype, device=self.device)
        for f in self.fields:
            for i in range(self.n):
                total[i] += _flat(torch.autograd.grad(f[i], self.params, retain_graph=True,
                                                      allow_unused=True), self.params)
        return total / len(self.fields)

    def scipy(self):
        from scipy.sparse.linalg import LinearOperator

        def mv(v):
            v = np.asarray(v)
            if np.iscomplexobj(v):  # J is real: apply it to both parts
                return (self.matvec(v.real).cpu().numpy()
                        + 1j * self.matvec(v.imag).cpu().numpy())
            return self.matvec(v).cpu().double().numpy()

        return LinearOperator((self.n, self.n), matvec=mv, dtype=np.float64)


def top_eigenvalues(op: JacobianOperator, k: int, which: str = "LM", seed: int = 0) -> np.ndarray:
    """The k eigenvalues of largest magnitude ("LM") or real part ("LR") by ARPACK's Arnoldi."""
    from scipy.sparse.linalg import eigs

    k = min(k, op.n - 2)
    v0 = np.random.default_rng(seed).standard_normal(op.n)
    tol = 1e-10 if op.dtype == torch.float64 else 1e-5  # what the matvec's precision supports
    return eigs(op.scipy(), k=k, which=which, v0=v0, return_eigenvectors=False, tol=tol,
                maxiter=max(1000, 20 * op.n))
