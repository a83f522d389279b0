"""`sga`: Symplectic Gradient Adjustment (Balduzzi et al. 2018), docs/methods.md §8.

With ξ = (∇_φ L_G, ∇_θ L_D) the simultaneous gradient and J = ∂ξ/∂w its Jacobian, split
J = S + A into symmetric and antisymmetric parts; the direction is

    u = ξ + λ Aᵀξ,   Aᵀξ = ½(Jᵀξ − Jξ),   λ = gamma.

Jᵀξ is a vector-Jacobian product of the gradient graph; Jξ a Jacobian-vector product by the
double-backward trick (Jᵀs is linear in a dummy s; differentiating ⟨Jᵀs, ξ⟩ in s gives Jξ).
``align`` takes the paper's sign alignment λ = γ·sign(⟨ξ, ∇H⟩⟨Aᵀξ, ∇H⟩/d + ε), ∇H = Jᵀξ, which
points the adjustment towards the stable fixed points and away from the unstable ones.

``regularizer_estimate=unbiased`` replaces the products of one batch's J and ξ by the mean of the
two cross products of independent half-batches, ½(J_A ξ_B + J_B ξ_A), whose expectation is E J·E ξ.
"""
from __future__ import annotations

from dataclasses import dataclass

from gantrain.lazy import torch
from gantrain.rules.base import Direction, FieldRule
from gantrain.rules.options import EstimateOptions, check
from gantrain.rules.tensors import grads, identity, mean_of


@dataclass
class SGAOptions(EstimateOptions):
    align: bool = False        # Balduzzi et al.'s sign alignment of λ (= gamma)
    align_eps: float = 0.1
    # no variance_corrected: its products are not squares
    ESTIMATES = ("same_batch", "unbiased")

    def __post_init__(self):
        super().__post_init__()
        check(self.align_eps > 0, "method.align_eps", self.align_eps, "must be > 0")


class SGA(FieldRule):
    name = "sga"
    Options = SGAOptions
    second_order = True
    color = "gold"

    def __init__(self, gamma: float = 0.0, **options):
        super().__init__(gamma, **options)
        self.align, self.align_eps = bool(self.align), float(self.align_eps)

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """u = v + γAᵀv, A the antisymmetric part of ∂v/∂w = −M, which is all of it: M − γMᵀM,
        as ConOpt (``align``'s sign is + at a rest point, where the alignment term is ε > 0)."""
        from gantrain.closed_forms import DIRAC_SLOPE as a
        from gantrain.closed_forms import dirac_rotation

        return dirac_rotation() - float(gamma) * a * a

    def uses_halves(self) -> bool:
        return self.regularizer_estimate == "unbiased"

    def direction(self, losses, d_params, g_params, create_graph=False, zero_sum=False):
        params = [*g_params, *d_params]               # (φ, θ) order throughout
        n_g = len(g_params)
        local = [[*grads(lg, g_params, True), *grads(ld, d_params, True)] for ld, lg in losses]
        m = len(local)
        glob = self.reduce([t for v in local for t in v])
        n = len(params)
        xis = [glob[i * n:(i + 1) * n] for i in range(m)]
        xi = mean_of(xis)
        # Σ_i (1/m) J_iᵀ ξ_j and Σ_i (1/m) J_i ξ_j, j the other half-batch (the same when m = 1)
        jt, jv = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
        for i in range(m):
            products = self._products(local[i], xis[m - 1 - i], params, create_graph)
            if products is None:
                continue
            vjp, jvp = products
            jt = [a + (0 if b is None else b / m) for a, b in zip(jt, vjp)]
            jv = [a + (0 if b is None else b / m) for a, b in zip(jv, jvp)]
        jt, jv = self.reduce(jt), self.reduce(jv)
        adj = [0.5 * (a - b) for a, b in zip(jt, jv)]      # Aᵀξ
        lam = self.gamma
        if self.align:
            if isinstance(lam, torch.Tensor) and lam.dim() and not self.members:
                raise ValueError("method.align=true needs one γ: the sign alignment takes inner "
                                 "products over all parameters, which a grid of γ values would mix")
            d = self.size(params)
            sign = torch.sign(self.dot(xi, jt) * self.dot(adj, jt) / d + self.align_eps).detach()
            lam = lam * sign
        if isinstance(lam, torch.Tensor) and lam.dim() > 0:   # one γ (or sign) per member
            u = [x + lam.reshape(-1, *[1] * (x.dim() - 1)) * a for x, a in zip(xi, adj)]
        else:
            u = [x + lam * a for x, a in zip(xi, adj)]
        loss_d = sum(ld for ld, _ in losses) / m
        loss_g = sum(lg for _, lg in losses) / m
        if self.reduce is not identity:
            loss_d, loss_g = self.reduce([loss_d.detach(), loss_g.detach()])
        stats = dict(loss_d=loss_d, loss_g=loss_g, grad_norm_d=self.norm(xi[n_g:]),
                     grad_norm_g=self.norm(xi[:n_g]), adjustment_norm=self.norm(adj))
        if self.align:
            stats["sga_sign"] = sign
        u_g, u_d = u[:n_g], u[n_g:]
        if not create_graph:
            stats = {k: v.detach() for k, v in stats.items()}
            u_g, u_d = [t.detach() for t in u_g], [t.detach() for t in u_d]
        return Direction(u_d=u_d, u_g=u_g, stats=stats)

    @staticmethod
    def _products(local, c, params, create_graph: bool):
        """(Jᵀc, Jc) for one batch's local gradient blocks ``local`` (J their Jacobian in
        ``params``), None where no block reached the graph. Jᵀc is a vector-Jacobian product;
        Jc the double-backward trick (Jᵀs is linear in a dummy s). Entries are None where a
        parameter or block is unreached."""
        outs = [(t, ci) for t, ci in zip(local, c) if t.requires_grad]
        if not outs:
            return None
        ts, cs = [t for t, _ in outs], [ci for _, ci in outs]
        vjp = torch.autograd.grad(ts, params, grad_outputs=cs, create_graph=create_graph,
                                  retain_graph=True, allow_unused=True)
        dummies = [torch.zeros_like(t, requires_grad=True) for t in ts]
        lin = torch.autograd.grad(ts, params, grad_outputs=dummies, create_graph=True,
                                  retain_graph=True, allow_unused=True)
        pairs = [(o, ci) for o, ci in zip(lin, c) if o is not None and o.requires_grad]
        jvp_d = (torch.autograd.grad([o for o, _ in pairs], dummies,
                                     grad_outputs=[ci for _, ci in pairs],
                                     create_graph=create_graph, retain_graph=True,
                                     allow_unused=True) if pairs else [None] * len(ts))
        # Jξ in the rows of the gradient blocks that reached the graph
        k = 0
        jvp = []
        for t in local:
            if t.requires_grad:
                jvp.append(jvp_d[k])
                k += 1
            else:
                jvp.append(None)
        return vjp, jvp

