"""`cgd`: competitive gradient descent (Schäfer and Anandkumar 2019), docs/methods.md §8.

Each step plays the Nash equilibrium of the players' local bilinear approximation with quadratic
regularization 1/(2η). With g_φ = ∇_φ L_G, g_θ = ∇_θ L_D and the mixed second derivatives
A = D²_φθ L_G, B = D²_θφ L_D, the step is w ← w − η u with

    (I − η² A B) u_φ = g_φ − η A g_θ,        u_θ = g_θ − η B u_φ,

the second line being the θ-player's best response to the φ-player's step (it equals
(I − η²BA)⁻¹(g_θ − ηB g_φ), the paper's second formula). η is ``method.eta``, which follows the
top-level ``eta`` (``CGDOptions.eta`` follows it in a composed config).

The system is solved by conjugate gradients on Hessian-vector products, ``cg_iters`` at most, until
the residual is below ``cg_tol`` relative to the right-hand side. For zero-sum losses (L_G = −L_D,
the minimax loss) A = −Bᵀ and I − η²AB = I + η²BᵀB is symmetric positive definite; otherwise CG
runs on the normal equations. The products: Bs and As are Jacobian-vector products by the
double-backward trick, Aᵀs and Bᵀs vector-Jacobian products. Exact on the toy games (their systems
have at most a few unknowns). When the direction must stay differentiable (the Jacobian of the
field in ``gantrain-analyze``), the matrix is built column by column and solved densely instead:
iterative CG has no derivative at a right-hand side of zero, which every equilibrium has.
"""
from __future__ import annotations

from dataclasses import dataclass

from gantrain.errors import ConfigError
from gantrain.lazy import torch
from gantrain.rules.base import Direction, FieldRule
from gantrain.rules.options import SameBatchOptions, check, follows, positive_int
from gantrain.rules.tensors import grads, identity

DENSE_MAX = 4000   # generator parameters up to which a differentiable (dense) solve is allowed


def _zeros_for(params):
    return [torch.zeros_like(p) for p in params]


def _nz(ts, like):
    return [torch.zeros_like(p) if t is None else t for t, p in zip(ts, like)]


def local_gradients(loss_d, loss_g, d_params, g_params, zero_sum: bool):
    """This process's (∇_θ L_D, ∇_φ L_G), differentiable; one backward pass when L_G = −L_D."""
    if zero_sum:
        both = grads(loss_d, [*d_params, *g_params], True)
        return both[:len(d_params)], [-t for t in both[len(d_params):]]
    return grads(loss_d, d_params, True), grads(loss_g, g_params, True)


@dataclass
class CGDOptions(SameBatchOptions):
    eta: float = follows("eta", 1e-3)   # the η of CGD's local game: the step size unless set on its own
    cg_iters: int = 32      # conjugate-gradient iterations at most per step
    cg_tol: float = 1e-6    # stop when the residual is below this times the right-hand side
    why = ("it solves a linear system built from the batch's Hessian blocks: no unbiased estimate "
           "of its inverse exists")

    def __post_init__(self):
        check(self.eta > 0, "method.eta", self.eta, "must be > 0")
        positive_int("method.cg_iters", self.cg_iters)
        check(self.cg_tol >= 0, "method.cg_tol", self.cg_tol, "must be >= 0")
        super().__post_init__()


class CGD(FieldRule):
    name = "cgd"
    Options = CGDOptions
    uses_gamma = False
    second_order = True
    field_follows_step = True
    color = "black"
    ensemble_refusal = ("its conjugate-gradient solve stops on a data-dependent residual, which "
                        "does not vectorise")

    def __init__(self, gamma: float = 0.0, **options):
        super().__init__(gamma, **options)
        # a tensor η: one step size per grid point (batched phase diagrams)
        self.eta = self.eta if isinstance(self.eta, torch.Tensor) else float(self.eta)
        self.cg_iters, self.cg_tol = int(self.cg_iters), float(self.cg_tol)

    @classmethod
    def at_step(cls, options, lr):
        """η = lr: the local game's step is the step taken."""
        return {**options, "eta": lr}

    @classmethod
    def local_step(cls, options, lr):
        """Its η (``method.eta``, which follows ``eta`` unless set apart)."""
        return float(cls.options_of(options).eta)

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """With η = lr: u = (I + lr·H_off)⁻¹v, H_off the off-diagonal blocks of ∂v/∂w, here all
        of −M, so the field's Jacobian is (I − lr·M)⁻¹M: λ/(1 − lr·λ) = (−lr·a² ± ia)/(1 + lr²a²)."""
        from gantrain.closed_forms import dirac_rotation

        rot = dirac_rotation()
        return rot / (1 - lr * rot)

    # --- per-grid-point arithmetic (a scalar in a single run) -----------------------------
    def _grid(self) -> bool:
        return isinstance(self.eta, torch.Tensor) and self.eta.dim() > 0

    def _dot(self, a, b):
        if self._grid():
            return sum((x * y).flatten(1).sum(1) for x, y in zip(a, b))
        return sum((x * y).sum() for x, y in zip(a, b))

    def _scale(self, c, ts):
        return [(c.reshape(-1, *[1] * (t.dim() - 1)) if isinstance(c, torch.Tensor) and c.dim() > 0
                 else c) * t for t in ts]

    def _axpy(self, c, xs, ys):   # ys + c·xs
        return [y + s for y, s in zip(ys, self._scale(c, xs))]

    # --- the direction --------------------------------------------------------------------
    def direction(self, losses, d_params, g_params, create_graph=False, zero_sum=False):
        if len(losses) != 1:
            raise ValueError("method=cgd takes one batch")
        (loss_d, loss_g), = losses
        n_d = len(d_params)
        loc_d, loc_g = local_gradients(loss_d, loss_g, d_params, g_params, zero_sum)
        glob = self.reduce([*loc_d, *loc_g])
        g_d, g_g = glob[:n_d], glob[n_d:]

        # Jacobian-vector products through dummies: lin_A(s) = Aᵀs is linear in s, so the
        # derivative of ⟨Aᵀs, t⟩ in s is At (and likewise for B).
        dummy_g = [torch.zeros_like(t, requires_grad=True) for t in loc_g]
        dummy_d = [torch.zeros_like(t, requires_grad=True) for t in loc_d]
        lin_a = self._maybe_grad(loc_g, d_params, dummy_g)   # Aᵀ dummy_g, θ-space
        lin_b = self._maybe_grad(loc_d, g_params, dummy_d)   # Bᵀ dummy_d, φ-space

        def product(outputs, inputs, cotangents):
            """Σ ∂⟨outputs, cotangents⟩/∂inputs, reduced: a VJP of the gradients, or (outputs =
            lin_·, inputs = its dummies) a JVP by the double-backward trick."""
            pairs = [(o, t) for o, t in zip(outputs, cotangents)
                     if o is not None and o.requires_grad]
            if not pairs:
                return self.reduce(_zeros_for(inputs))
            out = torch.autograd.grad([o for o, _ in pairs], inputs,
                                      grad_outputs=[t for _, t in pairs], retain_graph=True,
                                      create_graph=create_graph, allow_unused=True)
            return self.reduce(_nz(out, inputs))

        A = lambda s_theta: product(lin_a, dummy_g, s_theta)    # noqa: E731, φ-space
        B = lambda s_phi: product(lin_b, dummy_d, s_phi)        # noqa: E731, θ-space
        At = lambda s_phi: product(loc_g, d_params, s_phi)      # noqa: E731, θ-space
        Bt = lambda s_theta: product(loc_d, g_params, s_theta)  # noqa: E731, φ-space
        eta = self.eta
        eta2 = eta * eta

        def M(s):    # (I − η²AB) s
            return self._axpy(-eta2, A(B(s)), s)

        def Mt(s):   # (I − η²BᵀAᵀ) s
            return self._axpy(-eta2, Bt(At(s)), s)

        rhs = self._axpy(-eta, A(g_d), g_g)
        if create_graph:
            u_g = self._dense_solve(M, rhs, g_params)
            iters, resid = torch.tensor(0), torch.tensor(0.0)
        elif zero_sum:
            u_g, iters, resid = self._cg(M, rhs)
        else:
            u_g, iters, resid = self._cg(lambda s: Mt(M(s)), Mt(rhs))
        u_d = self._axpy(-eta, B(u_g), g_d)

        if self.reduce is not identity:
            loss_d, loss_g = self.reduce([loss_d.detach(), loss_g.detach()])
        stats = dict(loss_d=loss_d, loss_g=loss_g, grad_norm_d=self.norm(g_d), grad_norm_g=self.norm(g_g),
                     cg_iterations=iters, cg_residual=resid)
        if not create_graph:
            stats = {k: v.detach() for k, v in stats.items()}
            u_g, u_d = [t.detach() for t in u_g], [t.detach() for t in u_d]
        return Direction(u_d=u_d, u_g=u_g, stats=stats)

    @staticmethod
    def _maybe_grad(outputs, params, cotangents):
        pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
        if not pairs:
            return [None] * len(params)
        return list(torch.autograd.grad([o for o, _ in pairs], params,
                                        grad_outputs=[c for _, c in pairs], create_graph=True,
                                        retain_graph=True, allow_unused=True))

    def _cg(self, op, b):
        """Conjugate gradients for op(x) = b, op symmetric positive definite; with a grid of η
        every point runs its own CG (its own inner products)."""
        x = [torch.zeros_like(t) for t in b]
        r = [t.clone() for t in b]
        p = [t.clone() for t in b]
        rr = self._dot(r, r)
        b_norm = rr.sqrt()
        it = 0
        for it in range(self.cg_iters + 1):
            if it == self.cg_iters or bool((rr.sqrt() <= self.cg_tol * b_norm).all()):
                break
            ap = op(p)
            pap = self._dot(p, ap)
            alpha = torch.where(pap > 0, rr / torch.where(pap > 0, pap, torch.ones_like(pap)),
                                torch.zeros_like(pap))
            x = self._axpy(alpha, p, x)
            r = self._axpy(-alpha, ap, r)
            rr_new = self._dot(r, r)
            beta = torch.where(rr > 0, rr_new / torch.where(rr > 0, rr, torch.ones_like(rr)),
                               torch.zeros_like(rr))
            p = self._axpy(beta, p, r)
            rr = rr_new
        safe = torch.where(b_norm > 0, b_norm, torch.ones_like(b_norm))
        resid = (rr.sqrt() / safe).max()
        return x, torch.tensor(it), resid

    def _dense_solve(self, op, b, like):
        """u = M⁻¹b with M built from its columns M e_i: differentiable in the parameters."""
        if self._grid():
            raise ValueError("method=cgd: a differentiable direction needs one η, not a grid")
        sizes = [t.numel() for t in like]
        n = sum(sizes)
        if n > DENSE_MAX:
            raise ConfigError(f"method=cgd: the Jacobian of its field is taken through a dense "
                             f"solve, for at most {DENSE_MAX} generator parameters; this model "
                             f"has {n}")
        ref = b[0]
        cols = []
        for i in range(n):
            e = torch.zeros(n, dtype=ref.dtype, device=ref.device)
            e[i] = 1
            parts = list(torch.split(e, sizes))
            cols.append(torch.cat([t.reshape(-1) for t in op([q.reshape(p.shape) for q, p
                                                               in zip(parts, like)])]))
        m = torch.stack(cols, dim=1)
        flat_b = torch.cat([t.reshape(-1) for t in b])
        x = torch.linalg.solve(m, flat_b)
        return [q.reshape(p.shape) for q, p in zip(torch.split(x, sizes), like)]
