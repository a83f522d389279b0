"""The update-rule interface (docs/methods.md §2).

Every rule turns the players' losses into update directions u = (u_φ, u_θ) that the optimizers take
as if they were gradients. Field rules (:class:`FieldRule`) step from one point with one direction
u(w): the simultaneous rules (SimGD, ConOpt, JARE and the one-sided variants) differ only in which
squared-gradient penalty reaches which player, so each is a few declarative lines on top of
:class:`SimultaneousRule`; SGA, CGD and the gradient penalties R1/R2 write their own ``direction``.
AltGD, extragradient and optimistic gradient override the step itself.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Mapping, Sequence

from gantrain.errors import ConfigError
from gantrain.rules.lazy import torch
from gantrain.rules.options import EstimateOptions, MethodOptions

if TYPE_CHECKING:
    import numpy as np

    from gantrain.games.base import Game
    from gantrain.rules.per_sample import PerSample

    Tensors = list[torch.Tensor]
    LossPair = tuple[torch.Tensor, torch.Tensor]   # (L_D, L_G)
else:
    Tensors = list
    LossPair = tuple
# What penalty a player's direction gets: none; "full" = ∇ R with R = ½‖v‖² (ConOpt);
# "cross" = ∇ of half the squared norm of the *other* player's gradient (JARE).
Penalty = Literal["none", "full", "cross"]
ESTIMATES = EstimateOptions.ESTIMATES


def grads(loss: torch.Tensor, params: Sequence[torch.Tensor], create_graph: bool) -> Tensors:
    """∇ loss w.r.t. params; unreached parameters get zeros, never None."""
    out = torch.autograd.grad(loss, params, create_graph=create_graph, retain_graph=True,
                              allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out)]


def identity(tensors: Tensors) -> Tensors:
    """The reduction of one process: the local values are the global ones."""
    return tensors


def dot(a: Tensors, b: Tensors) -> torch.Tensor:
    return sum(torch.dot(x.reshape(-1), y.reshape(-1)) for x, y in zip(a, b))


def mean_of(lists: list[Tensors]) -> Tensors:
    return lists[0] if len(lists) == 1 else [sum(t) / len(lists) for t in zip(*lists)]


def norm(a: Tensors) -> torch.Tensor:
    return dot(a, a).sqrt()


@dataclass
class Direction:
    u_d: Tensors               # discriminator (θ) direction
    u_g: Tensors               # generator (φ) direction
    stats: dict[str, torch.Tensor]


class UpdateRule:
    """An update rule: ``train_step`` moves both players once.

    Everything the rest of gantrain knows about a rule is a class attribute here, read without
    building (or importing torch): config validation, the analyses, the figures and the reports
    derive their tables from ``gantrain.rules.RULES``. A new rule sets the ones that differ.

    ``reduce(tensors) -> tensors`` turns per-process values (means over this process's rows of the
    global batch) into global ones: the identity in one process, an all-reduce mean under
    torch.distributed (``gantrain.distributed``). Every rule reduces its gradients through it.

    Args:
        gamma: the regularization weight γ (a tensor: one per grid point along the parameters'
            first dimension, for batched phase diagrams).
        **options: the ``method.*`` options, checked by ``Options``.
    """

    # --- facts -----------------------------------------------------------------------------
    name: ClassVar[str]                  # the config name, ``method=<name>``
    Options: ClassVar[type] = MethodOptions   # the method.* schema: defaults and checks
    uses_gamma: ClassVar[bool] = True    # False: the rule has no γ (phase diagrams need one column)
    second_order: ClassVar[bool] = False   # differentiates through gradients: engine.amp=bf16 refused
    color: ClassVar[str | None] = None   # its colour in every figure (None: matplotlib's cycle)
    note: ClassVar[str] = ""             # a short note beside its name in reports
    # A rule whose step is a map of another rule's gradients (AltGD, extragradient, optimistic):
    # that field rule, whose Jacobian is analysed before the map's multipliers. None: a field rule.
    map_of: ClassVar[type | None] = None
    field_follows_step: ClassVar[bool] = False   # its field depends on the step size (``at_step``)
    plain_field: ClassVar[bool] = False        # its field is the plain simultaneous gradient v itself
    consensus_bound: ClassVar[bool] = False   # ConOpt's Theorem 2 eq. (30) bound applies
    positive_gamma: ClassVar[str] = ""   # why the rule needs γ > 0 (empty: γ = 0 is allowed)

    reduce = staticmethod(identity)

    def __init__(self, gamma: float = 0.0, **options):
        self.options = self.options_of(options)
        for f in fields(self.options):
            if f.name != "name":
                setattr(self, f.name, getattr(self.options, f.name))
        # A tensor γ holds one weight per grid point along the parameters' first dimension.
        self.gamma = gamma if isinstance(gamma, torch.Tensor) else float(gamma)

    @classmethod
    def options_of(cls, options: Mapping[str, Any]) -> Any:
        """The checked ``Options`` of a ``method`` section or keyword arguments.

        Args:
            options: option name → value (``name`` may be present).
        Returns:
            an ``Options`` instance, defaults filled in.
        Raises:
            ConfigError: an unknown option or a bad value (one line).
        """
        given = {k: v for k, v in options.items() if k != "name"}
        known = {f.name for f in fields(cls.Options)} - {"name"}
        if set(given) - known:
            raise ConfigError(f"method={cls.name} has no option(s) {sorted(set(given) - known)}")
        return cls.Options(name=cls.name, **given)

    # --- closed forms and discrete maps (docs/methods.md §4, §8); None: none known ----------
    @classmethod
    def dirac_eigenvalues(cls, gamma: float, lr: float) -> "np.ndarray | None":
        """The eigenvalues of the Jacobian of −u at DiracGAN's equilibrium (gantrain.analysis.
        theory.dirac_eigenvalues), or None: no closed form.

        Args:
            gamma: γ.
            lr: the step size (rules whose field depends on it; for CGD its η).
        Returns:
            a complex array, or None.
        """
        return None

    @classmethod
    def gaussian_quadratic(cls, s: float, gamma: float) -> "tuple[float, float, float] | None":
        """The Gaussian game's equilibrium spectrum with the linear discriminator (Theorems 1–3):
        (a, b, c) such that the eigenvalues are the roots of aλ² + bλ + c for s = σ² (n − 1
        pairs) and s = σ² + μ² (one pair), or None: no closed form."""
        return None

    @classmethod
    def gaussian_eigenvalues(cls, mu: float, sigma: float, n: int, gamma: float,
                             lr: float) -> "np.ndarray | None":
        """The Gaussian game's closed-form spectrum (arch=linear), or None.

        Args:
            mu, sigma, n: the data mean's norm, its standard deviation, the dimension.
            gamma: γ.
            lr: the step size (two-point rules' equivalent field).
        Returns:
            a complex array of 2n eigenvalues, or None.
        """
        from gantrain.analysis.theory import quadratic_spectrum

        return quadratic_spectrum(cls.gaussian_quadratic, mu, sigma, n, gamma)

    @classmethod
    def fullrank_coefficients(cls, p2: float, q: float, gamma: float) -> "tuple[float, float] | None":
        """App. B (arch=fullrank, n = 1): (b, c) such that the eigenvalues are the roots of
        λ² + bλ + c, with M = [[0, p], [−p, −q]] and p2 = p² (gantrain.analysis.theory.
        fullrank_eigenvalues), or None: no closed form."""
        return None

    @classmethod
    def equivalent_eigenvalues(cls, jacobian: "np.ndarray | None", eigenvalues: "np.ndarray",
                               lr: float) -> "np.ndarray | None":
        """A map rule's equivalent field (to first order in lr): its Jacobian's eigenvalues from
        ``map_of``'s Jacobian (or, when None, its eigenvalues alone); None: none given."""
        return None

    @classmethod
    def map_multipliers(cls, jacobian: "np.ndarray | None", eigenvalues: "np.ndarray", n_g: int,
                        lr: float, options: Mapping[str, Any]) -> "np.ndarray | None":
        """A map rule's SGD multipliers at step lr, linearized at a rest point, from the Jacobian of
        ``map_of``'s field (None when only its top eigenvalues are known); None: not a map rule,
        or not computable from what is given.

        Args:
            jacobian: the dense Jacobian of ``map_of``'s field, or None.
            eigenvalues: its eigenvalues (all, or the top k).
            n_g: the generator's number of parameters (the first n_g coordinates are φ).
            lr: the step size.
            options: the ``method`` section.
        """
        return None

    @classmethod
    def at_step(cls, options: Mapping[str, Any], lr: Any) -> dict:
        """The options for a run at step size ``lr`` (a rule whose field depends on the step, like
        CGD's η, sets it here); by default the options unchanged."""
        return dict(options)

    @classmethod
    def local_step(cls, options: Mapping[str, Any], lr: float) -> float:
        """The step size the rule's own field uses (CGD: its η); by default ``lr``."""
        return lr

    def train_step(self, game: "Game", opt_d: torch.optim.Optimizer,
                   opt_g: torch.optim.Optimizer, batch_size: int,
                   rng: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # The losses a rule differentiates: the game's own, unless the rule changes them (R1, R2).
    def losses(self, game: "Game", x_real: torch.Tensor, z: torch.Tensor) -> LossPair:
        return game.losses(x_real, z)

    def expected_losses(self, game: "Game", order: int) -> LossPair:
        """The exact expectations (games with ``expected_losses``, e.g. the Gaussian game)."""
        return game.expected_losses(order)

    # State a resumed run needs beyond parameters and optimizers (e.g. optimistic's last gradient).
    stateful: ClassVar[bool] = False
    # Set by the training loop on the steps it logs: add the flow-reversal cosines (JARE App. C,
    # gantrain.rules.flow) to the step's stats. Off otherwise: it costs a backward pass.
    diagnose: bool = False

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class FieldRule(UpdateRule):
    """A rule that steps both players from one point with one direction u(w), from one batch
    (or, with ``uses_halves``, two independent halves of it)."""

    def uses_halves(self) -> bool:
        return False

    def direction(self, losses: Sequence[LossPair], d_params: Sequence[torch.Tensor],
                  g_params: Sequence[torch.Tensor], create_graph: bool = False,
                  zero_sum: bool = False) -> "Direction":
        raise NotImplementedError

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        halves = self.uses_halves()
        x, z = game.sample_batch(batch_size, rng, parts=2 if halves else 1)
        if halves:   # this process's rows of each half of the global batch
            h = x.shape[0] // 2
            losses = [self.losses(game, x[:h], z[:h]), self.losses(game, x[h:], z[h:])]
        else:
            losses = [self.losses(game, x, z)]
        d_params, g_params = game.d_params(), game.g_params()
        out = self.direction(losses, d_params, g_params, zero_sum=game.zero_sum)
        if self.diagnose:   # before the step: the plain gradients at the same point
            from gantrain.rules.flow import batch_flow_cosines
            out.stats.update(batch_flow_cosines(self, game, x, z, out.u_d, out.u_g))
        apply(out.u_d, d_params, opt_d)
        apply(out.u_g, g_params, opt_g)
        return out.stats


class Delegating:
    """For a rule built on an inner rule (``self._rule``): the training loop swaps ``reduce`` for
    an all-reduce under torch.distributed, and the inner rule must get it."""

    _rule: UpdateRule

    @property
    def reduce(self):
        return self._rule.reduce

    @reduce.setter
    def reduce(self, fn) -> None:
        self._rule.reduce = fn


def apply(direction: Tensors, params: Sequence[torch.Tensor], opt: torch.optim.Optimizer) -> None:
    for p, u in zip(params, direction):
        p.grad = u.detach()
    opt.step()


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
            cls.second_order = "none" != cls.penalize_generator or "none" != cls.penalize_discriminator

    @classmethod
    def dirac_eigenvalues(cls, gamma, lr):
        """At DiracGAN's equilibrium v = 0, so a penalty's Jacobian keeps only first derivatives
        of v: both players penalized (ConOpt, and JARE, as M's diagonal blocks are 0), M − γMᵀM =
        M − γa²I; one player (−γa² in its row only), the roots of λ² + γa²λ + a² = 0; none, M's
        ±ia (gantrain.analysis.theory.dirac_eigenvalues)."""
        from gantrain.analysis.theory import DIRAC_SLOPE as a
        from gantrain.analysis.theory import dirac_rotation, roots

        penalized = ["none" != p for p in (cls.penalize_generator, cls.penalize_discriminator)]
        if all(penalized):
            return dirac_rotation() - float(gamma) * a * a
        if any(penalized):
            return roots(1, float(gamma) * a * a, a * a)
        return dirac_rotation()

    @property
    def regularized(self) -> bool:
        return "none" != self.penalize_generator or "none" != self.penalize_discriminator

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
        # The global gradients: one reduction for every half-batch and both players.
        flat = [t for vd, vg in zip(v_d, v_g) for t in (*vd, *vg)]
        reduced = self.reduce(flat)
        n = n_d + len(g_params)
        gv_d = [reduced[i * n:i * n + n_d] for i in range(len(losses))]
        gv_g = [reduced[i * n + n_d:(i + 1) * n] for i in range(len(losses))]
        # R terms: ½⟨g_1, g_2⟩, with g_1 = g_2 for the same-batch estimate.
        r_d = 0.5 * dot(gv_d[0], gv_d[-1])   # ½‖g_θ‖², penalizes the generator in JARE
        r_g = 0.5 * dot(gv_g[0], gv_g[-1])   # ½‖g_φ‖², penalizes the discriminator in JARE
        if per_sample is not None:
            r_d, r_g = self._corrected(r_d, r_g, per_sample)
        g_d, g_g = mean_of(gv_d), mean_of(gv_g)

        u_g, u_d = g_g, g_d
        if self.regularized and self._gamma_nonzero():
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
        loss_d = losses[0][0] if len(losses) == 1 else sum(ld for ld, _ in losses) / len(losses)
        loss_g = losses[0][1] if len(losses) == 1 else sum(lg for _, lg in losses) / len(losses)
        if self.reduce is not identity:
            loss_d, loss_g = self.reduce([loss_d.detach(), loss_g.detach()])
        # one batch, squared as it is: ‖g‖ = √(2R) needs no second pass over the gradients
        same = len(losses) == 1 and per_sample is None
        stats = dict(loss_d=loss_d, loss_g=loss_g,
                     grad_norm_d=(2 * r_d).sqrt() if same else norm(g_d),
                     grad_norm_g=(2 * r_g).sqrt() if same else norm(g_g),
                     reg_grad_d=r_d, reg_grad_g=r_g)
        if not create_graph:
            stats = {k: v.detach() for k, v in stats.items()}
            u_g, u_d = [u.detach() for u in u_g], [u.detach() for u in u_d]
        return Direction(u_d=u_d, u_g=u_g, stats=stats)

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
