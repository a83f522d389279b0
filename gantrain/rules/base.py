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
from gantrain.lazy import torch
from gantrain.rules.options import MethodOptions
from gantrain.rules.tensors import Tensors, dot, identity, member_dot

if TYPE_CHECKING:
    import numpy as np

    from gantrain.games.base import Game
    from gantrain.optim.stacked import PlayerOptimizer

    LossPair = tuple[torch.Tensor, torch.Tensor]   # (L_D, L_G)
else:
    LossPair = tuple
# What penalty a player's direction gets: none; "full" = ∇ R with R = ½‖v‖² (ConOpt);
# "cross" = ∇ of half the squared norm of the *other* player's gradient (JARE).
Penalty = Literal["none", "full", "cross"]


@dataclass
class Direction:
    """A field rule's output: each player's update direction (what the optimizers take as the
    gradient) and the step's logged numbers."""
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
    # Why launcher=ensemble cannot run the rule over stacked members (one line); empty: it can,
    # with this class's own code (``members``).
    ensemble_refusal: ClassVar[str] = ("it is not a field rule: only rules that step both players "
                                       "once from one point run over stacked members")
    # squared-gradient penalties in each player's direction, a Penalty: "none" | "full" | "cross"
    # (gantrain.rules.simultaneous)
    penalize_generator: ClassVar[Penalty] = "none"
    penalize_discriminator: ClassVar[Penalty] = "none"

    @classmethod
    def penalized(cls) -> bool:
        """Whether a squared-gradient penalty enters either player's direction (a second backward
        pass; the two-half-batch estimate applies)."""
        return "none" != cls.penalize_generator or "none" != cls.penalize_discriminator

    reduce = staticmethod(identity)
    # True when the players' parameters hold stacked members along their first dimension
    # (launcher=ensemble): every inner product and norm is then taken per member (``dot``).
    members: bool = False

    def dot(self, a: Tensors, b: Tensors) -> torch.Tensor:
        """⟨a, b⟩ over a player's tensors: a 0-d tensor, or one per member [N] (``members``)."""
        return member_dot(a, b) if self.members else dot(a, b)

    def norm(self, a: Tensors) -> torch.Tensor:
        """‖a‖ over a player's tensors (per member with ``members``)."""
        return self.dot(a, a).sqrt()

    def size(self, params: Sequence[torch.Tensor]) -> int:
        """The number of parameters of one run (of one member with ``members``)."""
        return sum(p[0].numel() if self.members else p.numel() for p in params)

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
            options: option name → value (``name`` may be present), or an ``Options`` instance
                (a checked config's ``method``), returned as it is.
        Returns:
            an ``Options`` instance, defaults filled in.
        Raises:
            ConfigError: an unknown option or a bad value (one line).
        """
        if isinstance(options, cls.Options):
            return options
        given = {k: v for k, v in options.items() if k != "name"}
        known = {f.name for f in fields(cls.Options)} - {"name"}
        if set(given) - known:
            raise ConfigError(f"method={cls.name} has no option(s) {sorted(set(given) - known)}")
        return cls.Options(name=cls.name, **given)

    @classmethod
    def estimate(cls, options: Mapping[str, Any]) -> str | None:
        """The ``method.regularizer_estimate`` of these options (its default filled in by the
        rule's ``Options``), or None: the rule has no such option.

        Args:
            options: the ``method`` section.
        """
        return getattr(cls.options_of(options), "regularizer_estimate", None)

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
        from gantrain.closed_forms import quadratic_spectrum

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

    def train_step(self, game: "Game", opt_d: "PlayerOptimizer",
                   opt_g: "PlayerOptimizer", batch_size: int,
                   rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One step of both players.

        Args:
            game: the game (its players, losses and batches).
            opt_d, opt_g: the players' optimizers.
            batch_size: the global batch size.
            rng: the batch generator.
        Returns:
            the step's logged numbers (losses, gradient norms, ...).
        """
        raise NotImplementedError

    def losses(self, game: "Game", x_real: torch.Tensor, z: torch.Tensor) -> LossPair:
        """The losses the rule differentiates: the game's own unless the rule changes them (R1, R2).

        Args:
            game: the game.
            x_real: a batch of data; z: a batch of latents.
        Returns:
            (L_D, L_G).
        """
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
        """What a checkpoint keeps of the rule (empty for a rule without state).

        Returns:
            a dict of tensors and plain values.
        """
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned.

        Args:
            state: a ``state_dict`` of this rule.
        """


class FieldRule(UpdateRule):
    """A rule that steps both players from one point with one direction u(w), from one batch
    (or, with ``uses_halves``, two independent halves of it). Its code runs over stacked members
    as it is (``members``), so launcher=ensemble takes it."""

    ensemble_refusal: ClassVar[str] = ""

    def uses_halves(self) -> bool:
        """Whether a step draws two independent half-batches (unbiased estimates)."""
        return False

    def direction(self, losses: Sequence[LossPair], d_params: Sequence[torch.Tensor],
                  g_params: Sequence[torch.Tensor], create_graph: bool = False,
                  zero_sum: bool = False) -> "Direction":
        """The update directions at the current point.

        Args:
            losses: one (L_D, L_G) pair per batch (two with ``uses_halves``).
            d_params, g_params: the players' parameters.
            create_graph: keep the directions differentiable (Jacobians of the field).
            zero_sum: L_G = −L_D (one backward pass gives both gradients).
        Returns:
            a :class:`Direction`.
        """
        raise NotImplementedError

    def train_step(self, game, opt_d, opt_g, batch_size, rng):
        halves = self.uses_halves()
        x, z = game.sample_batch(batch_size, rng, parts=2 if halves else 1)
        if halves:   # this process's rows of each half of the global batch
            losses = [self.losses(game, xs, zs) for xs, zs in game.halves(x, z)]
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
    an all-reduce under torch.distributed, and sets ``members`` over stacked members; the inner
    rule must get both."""

    _rule: UpdateRule

    @property
    def reduce(self):
        return self._rule.reduce

    @reduce.setter
    def reduce(self, fn) -> None:
        self._rule.reduce = fn

    @property
    def members(self) -> bool:
        return self._rule.members

    @members.setter
    def members(self, on: bool) -> None:
        self._rule.members = on


def apply(direction: Tensors, params: Sequence[torch.Tensor], opt: "PlayerOptimizer") -> None:
    """Step ``opt`` with ``direction`` as the parameters' gradient.

    Args:
        direction: one tensor per parameter.
        params: the parameters ``opt`` steps.
        opt: their optimizer.
    """
    for p, u in zip(params, direction):
        p.grad = u.detach()
    opt.step()
