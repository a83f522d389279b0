"""Simultaneous rules: both players step from one point with one batch, each direction the
plain gradient plus γ times a squared-gradient penalty's gradient (docs/methods.md §2, §3).

SimGD, ConOpt, JARE and their one-sided variants are each a few declarative lines on top of
:class:`SimultaneousRule` (which penalty reaches which player).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Sequence

from gantrain.lazy import torch
from gantrain.rules.base import Direction, FieldRule, Penalty, apply
from gantrain.rules.options import EstimateOptions
from gantrain.rules.tensors import Tensors, grads, identity, mean_of

if TYPE_CHECKING:
    from gantrain.rules.per_sample import PerSample


class SimultaneousRule(FieldRule):
    """Both players step from the same point with one batch (the papers' estimator).

    ``regularizer_estimate``: ``same_batch`` squares the batch gradient (biased by Var/(2B),
    docs/methods.md §3); ``unbiased`` uses ½⟨v_A, v_B⟩ of two independent half-batches;
    ``variance_corrected`` subtracts the per-sample variance term (the Numerics supplement,
    gantrain.rules.per_sample).
    """

    penalize_generator: ClassVar[Penalty] = "none"
    penalize_discriminator: ClassVar[Penalty] = "none"
    Options = EstimateOptions
    regularizer_estimate = "same_batch"   # a rule whose Options lack it (SimGD) always uses this

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # a penalty is the gradient of a squared gradient norm: a second backward pass
        if "second_order" not in cls.__dict__:
            cls.second_order = cls.penalized()

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """At DiracGAN's equilibrium v = 0, so a penalty's Jacobian keeps only first derivatives
        of v: both players penalized (ConOpt, and JARE, as M's diagonal blocks are 0), M − γMᵀM =
        M − γa²I; one player (−γa² in its row only), the roots of λ² + γa²λ + a² = 0; none, M's
        ±ia (gantrain.analysis.theory.dirac_eigenvalues)."""
        from gantrain.closed_forms import DIRAC_SLOPE as a
        from gantrain.closed_forms import dirac_rotation, roots

        penalized = ["none" != p for p in (cls.penalize_generator, cls.penalize_discriminator)]
        if all(penalized):
            return dirac_rotation() - float(gamma) * a * a
        if any(penalized):
            return roots(1, float(gamma) * a * a, a * a)
        return dirac_rotation()

    @property
    def regularized(self) -> bool:
        return self.penalized()

    def direction(self, losses: Sequence[tuple[torch.Tensor, torch.Tensor]],
                  d_params: Sequence[torch.Tensor], g_params: Sequence[torch.Tensor],
                  create_graph: bool = False, zero_sum: bool = False,
                  per_sample: "PerSample | None" = None) -> Direction:
        """Directions from one (L_D, L_G) pair, or two from independent half-batches (unbiased),
        or (variance_corrected) from per-sample gradient stacks, ``losses`` then unused.

        With ``create_graph`` the result stays differentiable (used for Jacobians of the field).
        ``zero_sum`` declares L_G = −L_D (the minimax loss), which saves a backward pass.

        Every regularizer gradient is a vector-Jacobian product of the local gradient graph with
        the global (``self.reduce``d) gradient as the cotangent: ∇½‖g‖² = Hᵀg, JARE's cross
        terms use only the other player's block, and the unbiased estimate ½⟨g_A, g_B⟩ has
        gradient ½(H_Aᵀg_B + H_Bᵀg_A). In one process ``reduce`` is the identity; under
        torch.distributed it is an all-reduce mean, so the result equals the single-process
        computation on the global batch (the square of the mean is not the mean of the squares).
        """
        losses, v_d, v_g = self._local_gradients(losses, d_params, g_params, create_graph,
                                                 zero_sum, per_sample)
        # The global gradients: one reduction for every half-batch and both players.
        n_d = len(d_params)
        flat = [t for vd, vg in zip(v_d, v_g) for t in (*vd, *vg)]
        reduced = self.reduce(flat)
        n = n_d + len(g_params)
        gv_d = [reduced[i * n:i * n + n_d] for i in range(len(losses))]
        gv_g = [reduced[i * n + n_d:(i + 1) * n] for i in range(len(losses))]
        # R terms: ½⟨g_1, g_2⟩, with g_1 = g_2 for the same-batch estimate.
        r_d = 0.5 * self.dot(gv_d[0], gv_d[-1])   # ½‖g_θ‖², penalizes the generator in JARE
        r_g = 0.5 * self.dot(gv_g[0], gv_g[-1])   # ½‖g_φ‖², penalizes the discriminator in JARE
        if per_sample is not None:
            r_d, r_g = self._corrected(r_d, r_g, per_sample)
        g_d, g_g = mean_of(gv_d), mean_of(gv_g)

        u_g, u_d = g_g, g_d
        if self.regularized and self._gamma_nonzero():
            u_d, u_g = self._penalized((v_d, v_g), (gv_d, gv_g), (g_d, g_g), d_params, g_params,
                                       create_graph, per_sample)
        # one batch, squared as it is: ‖g‖ = √(2R) needs no second pass over the gradients
        same = len(losses) == 1 and per_sample is None
        stats = self._stats(losses, r_d, r_g, g_d, g_g, same)
        if not create_graph:
            stats = {k: v.detach() for k, v in stats.items()}
            u_g, u_d = [u.detach() for u in u_g], [u.detach() for u in u_d]
        return Direction(u_d=u_d, u_g=u_g, stats=stats)

    def _local_gradients(self, losses, d_params, g_params, create_graph: bool, zero_sum: bool,
                         per_sample: "PerSample | None"):
        """This process's gradients of each (L_D, L_G) pair, kept differentiable where a penalty
        (or ``create_graph``) needs a second backward pass; with ``per_sample``, the means of its
        per-sample stacks. Returns (losses, v_d, v_g), one list of tensors per pair."""
        pg, pd = self.penalize_generator, self.penalize_discriminator
        # Which gradients must stay differentiable for the second backward pass.
        need_g_graph = pg == "full" or pd in ("full", "cross")
        need_d_graph = pd == "full" or pg in ("full", "cross")
        need_g_graph = create_graph or (self._gamma_nonzero() and need_g_graph)
        need_d_graph = create_graph or (self._gamma_nonzero() and need_d_graph)
        n_d = len(d_params)

        if per_sample is not None:   # the batch gradient is the mean of the per-sample ones
            losses = [(per_sample.loss_d, per_sample.loss_g)]
            v_d = [[t.mean(0) for t in per_sample.d]]
            v_g = [[t.mean(0) for t in per_sample.g]]
        elif zero_sum:  # L_G = −L_D: one backward pass gives both players' gradients
            both = [grads(ld, [*d_params, *g_params], need_d_graph or need_g_graph)
                    for ld, _ in losses]
            v_d = [b[:n_d] for b in both]
            v_g = [[-g for g in b[n_d:]] for b in both]
        else:
            v_d = [grads(ld, d_params, need_d_graph) for ld, _ in losses]
            v_g = [grads(lg, g_params, need_g_graph) for _, lg in losses]
        return losses, v_d, v_g

    def _penalized(self, local, glob, plain, d_params, g_params, create_graph: bool,
                   per_sample: "PerSample | None"):
        """The plain gradients plus γ times each player's penalty gradient (``penalize_*``).

        Args: the local (v_d, v_g) and global (gv_d, gv_g) per-pair gradients, the plain
        directions (g_d, g_g), the parameters, ``create_graph``, ``per_sample``.
        Returns: (u_d, u_g)."""
        (v_d, v_g), (gv_d, gv_g), (g_d, g_g) = local, glob, plain
        pg, pd = self.penalize_generator, self.penalize_discriminator
        n_d = len(d_params)
        u_g, u_d = g_g, g_d
        blocks = {"full": ("d", "g"), "cross": ("d",)}
        if pg != "none" and pg == pd == "full":   # ConOpt: one pass gives both players
            reg = self._vjp(v_d, v_g, gv_d, gv_g, ("d", "g"), [*d_params, *g_params],
                            create_graph, per_sample)
            reg_d, reg_g = reg[:n_d], reg[n_d:]
        else:
            reg_g = (None if pg == "none" else self._vjp(v_d, v_g, gv_d, gv_g, blocks[pg],
                                                         g_params, create_graph, per_sample))
            blocks = {"full": ("d", "g"), "cross": ("g",)}
            reg_d = (None if pd == "none" else self._vjp(v_d, v_g, gv_d, gv_g, blocks[pd],
                                                         d_params, create_graph, per_sample))
        if reg_g is not None:
            u_g = [self._add_scaled(g, r) for g, r in zip(g_g, reg_g)]
        if reg_d is not None:
            u_d = [self._add_scaled(g, r) for g, r in zip(g_d, reg_d)]
        return u_d, u_g

    def _stats(self, losses, r_d, r_g, g_d, g_g, same: bool) -> dict:
        """The step's logged numbers: the mean losses (reduced), gradient norms, R terms."""
        loss_d = losses[0][0] if len(losses) == 1 else sum(ld for ld, _ in losses) / len(losses)
        loss_g = losses[0][1] if len(losses) == 1 else sum(lg for _, lg in losses) / len(losses)
        if self.reduce is not identity:
            loss_d, loss_g = self.reduce([loss_d.detach(), loss_g.detach()])
        return dict(loss_d=loss_d, loss_g=loss_g,
                    grad_norm_d=(2 * r_d).sqrt() if same else self.norm(g_d),
                    grad_norm_g=(2 * r_g).sqrt() if same else self.norm(g_g),
                    reg_grad_d=r_d, reg_grad_g=r_g)

    def _vjp(self, v_d: list[Tensors], v_g: list[Tensors], gv_d: list[Tensors],
             gv_g: list[Tensors], blocks: tuple[str, ...], params: Sequence[torch.Tensor],
             create_graph: bool, per_sample: "PerSample | None" = None) -> Tensors:
        """Σ_i (1/m) J_iᵀ c_i over the m half-batches, reduced: J_i is the Jacobian of the local
        gradient blocks of half-batch i w.r.t. ``params``, c_i the global gradient of the other
        half-batch (of the same batch when m = 1). The cotangents stay attached, so with
        ``create_graph`` the result is the exact, differentiable gradient of the regularizer.

        With ``per_sample`` (variance_corrected) it is the gradient of B/(B − 1)·½‖ḡ‖² −
        1/(B − 1)·(1/B)Σ ½‖g_i‖²: the batch term scaled, and each local stack of b rows with
        itself as cotangent, scaled by −1/(b(B − 1)) (the reduction's mean over processes turns
        the local 1/b into the global 1/B)."""
        m = len(v_d)
        outputs, cotangents = [], []
        big = per_sample.batch_size if per_sample is not None else 0
        scale = big / (big - 1) if per_sample is not None else (1.0 if m == 1 else 1.0 / m)
        for i in range(m):
            j = m - 1 - i
            for b in blocks:
                local, glob = (v_d[i], gv_d[j]) if b == "d" else (v_g[i], gv_g[j])
                for t, c in zip(local, glob):
                    if t.requires_grad:
                        outputs.append(t)
                        cotangents.append(c if scale == 1.0 else c * scale)
        for b in (blocks if per_sample is not None else ()):
            for t in (per_sample.d if b == "d" else per_sample.g):
                if t.requires_grad:
                    outputs.append(t)
                    cotangents.append(t * (-1.0 / (t.shape[0] * (big - 1))))
        if not outputs:
            return [torch.zeros_like(p) for p in params]
        out = torch.autograd.grad(outputs, params, grad_outputs=cotangents,
                                  create_graph=create_graph, retain_graph=True, allow_unused=True)
        return self.reduce([torch.zeros_like(p) if g is None else g for p, g in zip(params, out)])

    def _corrected(self, r_d: torch.Tensor, r_g: torch.Tensor,
                   per_sample: "PerSample") -> tuple[torch.Tensor, torch.Tensor]:
        """B/(B − 1)·½‖ḡ‖² − 1/(B − 1)·(1/B)Σ ½‖g_i‖² per player (gantrain.rules.per_sample)."""
        big = per_sample.batch_size
        sq = [0.5 * sum(t.flatten(1).square().sum(1).mean() for t in stack)
              for stack in (per_sample.d, per_sample.g)]
        sq_d, sq_g = self.reduce(sq)
        return ((big * r_d - sq_d) / (big - 1), (big * r_g - sq_g) / (big - 1))

    def _gamma_nonzero(self) -> bool:
        return bool((self.gamma != 0).any()) if isinstance(self.gamma, torch.Tensor) else self.gamma != 0

    def _add_scaled(self, g: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        if isinstance(self.gamma, torch.Tensor):  # one γ per grid point (batched phase diagrams)
            return g + self.gamma.reshape(-1, *[1] * (g.dim() - 1)) * r
        return torch.add(g, r, alpha=self.gamma)

    def uses_halves(self) -> bool:
        return self.regularizer_estimate == "unbiased" and self.regularized

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        if self.regularizer_estimate != "variance_corrected" or not self.regularized:
            return super().train_step(game, opt_d, opt_g, batch_size, rng)
        from gantrain.rules.per_sample import per_sample_gradients

        x, z = game.sample_batch(batch_size, rng)
        d_params, g_params = game.d_params(), game.g_params()
        per = per_sample_gradients(self, game, x, z, batch_size)
        out = self.direction(None, d_params, g_params, per_sample=per)
        if self.diagnose:
            from gantrain.rules.flow import batch_flow_cosines
            out.stats.update(batch_flow_cosines(self, game, x, z, out.u_d, out.u_g))
        apply(out.u_d, d_params, opt_d)
        apply(out.u_g, g_params, opt_g)
        return out.stats
