"""The field rules as pure functions of one member's parameters, for ``torch.func.vmap``.

A member's players are the game's own modules, called through ``torch.func.functional_call`` with
that member's parameters (dicts name → tensor), so the losses are the single run's formulas
(``gantrain.losses.gan_losses`` on D(x) and D(G(z))). Gradients are ``torch.func.vjp``
pullbacks of the losses; a squared-gradient penalty is a pullback of the gradient function itself
(a Hessian-vector product, docs/methods.md §3), SGA's Jξ a forward-mode ``jvp`` of it. Each
function returns (u_d, u_g, stats) for one member; ``vmap`` runs them over the stacked members,
every member with its own γ.

Covered: the simultaneous rules (simgd, conopt, jare, conopt_g, conopt_d, jare_g, jare_d, the
same-batch and half-batch regularizer estimates), gradnorm, sga (align too), r1 and r2. Not
covered: cgd (its conjugate-gradient solve stops on a data-dependent residual, which does not
vectorise), the rules that step through the optimizer more than once per step (altgd,
extragradient, optimistic) and ``regularizer_estimate=variance_corrected`` (per-sample gradient
stacks); launcher=ensemble runs those jobs on their own.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import functional_call, grad, jvp, vjp, vmap

from gantrain.errors import ConfigError
from gantrain.losses import gan_losses
from gantrain.rules import RULES

Params = dict[str, torch.Tensor]

# The methods whose code the vmapped forms restate: a subclass that overrides one below the class
# that names its form (``UpdateRule.ensemble``) would be run without its own code.
RESTATED = ("direction", "train_step", "losses", "uses_halves")


def refusal(cls) -> str:
    """Why the ensemble cannot run a rule class ("" when it can): it names no vmapped form, or it
    overrides code that its inherited form restates (a plugin's own ``direction``)."""
    if not cls.ensemble:
        return cls.ensemble_refusal
    owner = next(k for k in cls.__mro__ if "ensemble" in vars(k))
    for method in RESTATED:
        defined = next(k for k in cls.__mro__ if method in vars(k))
        if defined is not owner and issubclass(defined, owner):
            return (f"its own {method} ({defined.__name__}) is not what the ensemble's vmapped "
                    f"{cls.ensemble!r} form of {owner.__name__} computes")
    return ""


# every rule whose class says how the ensemble expresses it, and does not change that code
_REFUSALS = {name: refusal(cls) for name, cls in RULES.items()}
COVERED = tuple(name for name, why in _REFUSALS.items() if not why)
ESTIMATES = ("same_batch", "unbiased")   # not variance_corrected: per-sample gradient stacks
NOT_COVERED = {name: why for name, why in _REFUSALS.items() if why}


def check_covered(method: str) -> None:
    """One line when ``method`` cannot run in an ensemble."""
    if method in NOT_COVERED:
        raise ConfigError(f"method={method} is invalid with launcher=ensemble: {NOT_COVERED[method]}; "
                          f"allowed: {', '.join(COVERED)} (run it with launcher=basic)")
    if method not in COVERED:
        raise ConfigError(f"method={method!r} is invalid with launcher=ensemble; allowed: "
                          f"{', '.join(COVERED)}")


def check_estimate(method_cfg) -> None:
    """One line when the method's regularizer estimate has no vmapped form."""
    estimate = RULES[method_cfg.name].estimate(method_cfg)
    if estimate is not None and estimate not in ESTIMATES:
        raise ConfigError(f"method.regularizer_estimate={estimate} is invalid with launcher=ensemble: "
                          f"its per-sample gradient stacks are not vmapped over members; allowed: "
                          f"{', '.join(ESTIMATES)} (run it with launcher=basic)")


def _dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def _zeros(a: Params) -> Params:
    return {k: torch.zeros_like(v) for k, v in a.items()}


def _mean(parts: list[Params]) -> Params:
    return parts[0] if len(parts) == 1 else {k: sum(p[k] for p in parts) / len(parts)
                                             for k in parts[0]}


class Players:
    """The game's generator and discriminator as functions of a member's parameters."""

    def __init__(self, generator: torch.nn.Module, discriminator: torch.nn.Module, loss: str):
        self.generator, self.discriminator, self.loss = generator, discriminator, loss
        self.zero_sum = loss == "minimax"

    def G(self, g: Params, z: torch.Tensor) -> torch.Tensor:
        return functional_call(self.generator, g, (z,))

    def D(self, d: Params, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.discriminator, d, (x,))

    def losses(self, d: Params, g: Params, x: torch.Tensor, z: torch.Tensor):
        """(L_D, L_G): ``Game.losses`` at this member's parameters."""
        return gan_losses(self.loss, self.D(d, x), self.D(d, self.G(g, z)))

    def gradients(self, d: Params, g: Params, x, z, losses=None):
        """((∇_θ L_D, ∇_φ L_G), (L_D, L_G)) from one forward pass; the minimax loss (L_G = −L_D)
        takes one backward pass, as the single run does."""
        losses = losses or self.losses
        (ld, lg), pull = vjp(lambda d_, g_: losses(d_, g_, x, z), d, g)
        one, zero = torch.ones_like(ld), torch.zeros_like(ld)
        if self.zero_sum:
            v_d, v_g = pull((one, zero))
            v_g = {k: -v for k, v in v_g.items()}
        else:
            v_d = pull((one, zero))[0]
            v_g = pull((zero, one))[1]
        return (v_d, v_g), (ld, lg)


def _halves(x: torch.Tensor, z: torch.Tensor, halves: bool, dim: int = 0):
    """The batch (along ``dim``), or its two halves for the unbiased estimate."""
    if not halves:
        return [(x, z)]
    h, n = x.shape[dim] // 2, x.shape[dim]
    return [(x.narrow(dim, 0, h), z.narrow(dim, 0, h)),
            (x.narrow(dim, h, n - h), z.narrow(dim, h, n - h))]


def _terms(pg: str, pd: str) -> list[tuple[str, tuple[str, ...]]]:
    """The penalty gradients a rule needs, as (which player's parameters, which gradient blocks
    are squared): ConOpt's is one pullback for both players; the others one per penalized
    player, each restricted to that player's parameters and to the blocks it squares, so no
    pullback runs through a part of the graph its result does not need."""
    if pg == pd == "full":
        return [("dg", ("d", "g"))]
    blocks = {"full": ("d", "g"), "cross_g": ("d",), "cross_d": ("g",)}
    terms = []
    if pg != "none":
        terms.append(("g", blocks["full" if pg == "full" else "cross_g"]))
    if pd != "none":
        terms.append(("d", blocks["full" if pd == "full" else "cross_d"]))
    return terms


def _pullback(players: Players, d: Params, g: Params, xs, zs, losses, wrt: str,
              blocks: tuple[str, ...]):
    """(v, pullback, losses): v = (∇_θ L_D, ∇_φ L_G) and the vector-Jacobian product of the
    ``blocks`` of v with respect to ``wrt``'s parameters (a dict per player, zeros elsewhere)."""
    def f(*primals):
        d_, g_ = {"d": (primals[0], g), "g": (d, primals[0]), "dg": primals}[wrt]
        v, ls = players.gradients(d_, g_, xs, zs, losses)
        return tuple(v[0 if b == "d" else 1] for b in blocks), (v, ls)

    primals = {"d": (d,), "g": (g,), "dg": (d, g)}[wrt]
    _, pull, (v, ls) = vjp(f, *primals, has_aux=True)

    def apply(c: tuple[Params, Params]) -> tuple[Params | None, Params | None]:
        out = pull(tuple(c[0 if b == "d" else 1] for b in blocks))
        return {"d": (out[0], None), "g": (None, out[0]), "dg": out}[wrt]

    return v, apply, ls


def _assemble(vs, lds, lgs, regs, gamma, plain: bool):
    """One member's (u_d, u_g, stats) from its (half-batch) gradients ``vs``, losses and the
    penalty gradients ``regs`` [(reg_d | None, reg_g | None) per term]: u = v + γ·Σ regs."""
    m = len(vs)
    r_d = 0.5 * _dot(vs[0][0], vs[-1][0])   # ½‖g_θ‖² (½⟨g_A, g_B⟩ with halves)
    r_g = 0.5 * _dot(vs[0][1], vs[-1][1])
    g_d, g_g = _mean([v[0] for v in vs]), _mean([v[1] for v in vs])
    u_d, u_g = (g_d, g_g) if plain else (_zeros(g_d), _zeros(g_g))
    for reg_d, reg_g in regs:   # None or {} where a term leaves a player alone
        if reg_g:
            u_g = {k: u_g[k] + gamma * reg_g[k] for k in u_g}
        if reg_d:
            u_d = {k: u_d[k] + gamma * reg_d[k] for k in u_d}
    same = m == 1
    stats = dict(loss_d=sum(lds) / m if m > 1 else lds[0],
                 loss_g=sum(lgs) / m if m > 1 else lgs[0],
                 grad_norm_d=(2 * r_d).sqrt() if same else _dot(g_d, g_d).sqrt(),
                 grad_norm_g=(2 * r_g).sqrt() if same else _dot(g_g, g_g).sqrt(),
                 reg_grad_d=r_d, reg_grad_g=r_g)
    return u_d, u_g, stats


def _cotangent(vs, i: int):
    """Half i's cotangent: the other half's gradient, over m (the same batch's when m = 1)."""
    m = len(vs)
    c = vs[m - 1 - i]
    return c if m == 1 else tuple({k: u / m for k, u in part.items()} for part in c)


def _add(a: Params | None, b: Params | None) -> Params | None:
    return b if a is None else {k: a[k] + b[k] for k in a}


def simultaneous(players: Players, pg: str, pd: str, halves: bool, plain: bool = True,
                 losses=None) -> Callable:
    """``SimultaneousRule.direction`` over stacked members: u = v + γ·(the penalties' gradients),
    each penalty gradient Jᵀc, J the Jacobian of the gradients, c the (other half-batch's)
    gradient on the penalized blocks. ``plain=False`` drops v (gradnorm: u = γ∇½‖v‖²).

    One penalty term runs as ``vmap`` of a one-member function (``torch.func.vjp`` nested); two
    (JARE: each player penalized on the other's block) share one forward and backward pass
    (``shared``)."""
    terms = _terms(pg, pd)
    if len(terms) > 1:
        return shared(players, terms, halves, plain, losses)
    return vmap(one_member(players, terms, halves, plain, losses))


def one_member(players: Players, terms, halves: bool, plain: bool = True, losses=None) -> Callable:
    """The direction of one member, for ``vmap``: each term's Jᵀc a ``torch.func.vjp`` pullback
    of the gradient function (a Hessian-vector product)."""
    def direction(d: Params, g: Params, x, z, gamma):
        vs, lds, lgs, pulls = [], [], [], []   # pulls[i][t]: half i's pullback of term t
        for xs, zs in _halves(x, z, halves):
            if terms:
                outs = [_pullback(players, d, g, xs, zs, losses, wrt, blocks)
                        for wrt, blocks in terms]
                v, (ld, lg) = outs[0][0], outs[0][2]
                pulls.append([o[1] for o in outs])
            else:
                v, (ld, lg) = players.gradients(d, g, xs, zs, losses)
            vs.append(v)
            lds.append(ld)
            lgs.append(lg)
        regs = []
        for t in range(len(terms)):   # Σ_i J_iᵀ c_i
            reg_d = reg_g = None
            for i in range(len(vs)):
                out_d, out_g = pulls[i][t](_cotangent(vs, i))
                reg_d, reg_g = _add(reg_d, out_d), _add(reg_g, out_g)
            regs.append((reg_d, reg_g))
        return _assemble(vs, lds, lgs, regs, gamma, plain)

    return direction


def shared(players: Players, terms, halves: bool, plain: bool, losses=None) -> Callable:
    """The penalized direction over stacked members with one forward and backward pass for all
    penalty terms, as the single run's autograd shares them: the members' gradients come from
    ``vmap`` of the one-member ``Players.gradients`` with the stacked parameters as autograd
    leaves, and each term's Jᵀc is one ``torch.autograd.grad`` restricted to its player's
    parameters. Members are independent, so the stacked pullback is each member's own."""
    grads = vmap(lambda d, g, xs, zs: players.gradients(d, g, xs, zs, losses))
    assemble = vmap(lambda vs, lds, lgs, regs, gamma: _assemble(vs, lds, lgs, regs, gamma, plain))

    def direction(d: Params, g: Params, x, z, gamma):
        with torch.enable_grad():
            leaves = ({k: t.detach().requires_grad_() for k, t in d.items()},
                      {k: t.detach().requires_grad_() for k, t in g.items()})
            outs = [grads(*leaves, xs, zs) for xs, zs in _halves(x, z, halves, dim=1)]
            vs = [v for v, _ in outs]
            consts = [tuple({k: t.detach() for k, t in part.items()} for part in v) for v in vs]
            regs = [_term_grad(vs, consts, leaves, wrt, blocks) for wrt, blocks in terms]
        return assemble(consts, [o[1][0].detach() for o in outs], [o[1][1].detach() for o in outs],
                        regs, gamma)

    return direction


def _term_grad(vs, consts, leaves, wrt: str, blocks: tuple[str, ...]):
    """Σ_i J_iᵀ c_i of one penalty term, with respect to ``wrt``'s stacked leaves: (reg_d | {},
    reg_g | {}); ``consts`` are the gradients ``vs`` detached (the cotangents)."""
    players = {"d": (0,), "g": (1,), "dg": (0, 1)}[wrt]
    inputs = [(p, k) for p in players for k in leaves[p]]
    idx = [0 if b == "d" else 1 for b in blocks]
    total = None
    for i, v in enumerate(vs):
        c = _cotangent(consts, i)
        outputs = [v[j][k] for j in idx for k in v[j]]
        cots = [c[j][k] for j in idx for k in v[j]]
        got = torch.autograd.grad(outputs, [leaves[p][k] for p, k in inputs], cots,
                                  retain_graph=True, allow_unused=True)
        part = {p: {} for p in players}
        for (p, k), t in zip(inputs, got):
            part[p][k] = torch.zeros_like(leaves[p][k]) if t is None else t
        total = part if total is None else {p: _add(total[p], part[p]) for p in players}
    return total.get(0, {}), total.get(1, {})


def sga(players: Players, halves: bool, align: bool, align_eps: float) -> Callable:
    """``SGA.direction`` for one member: u = ξ + λ·½(Jᵀξ − Jξ)."""

    def direction(d: Params, g: Params, x, z, gamma):
        parts = _halves(x, z, halves)
        m = len(parts)
        fns = [(lambda xs, zs: lambda d_, g_: players.gradients(d_, g_, xs, zs))(xs, zs)
               for xs, zs in parts]
        outs = [vjp(f, d, g, has_aux=True) for f in fns]   # (v, pullback, (L_D, L_G)) each
        vs = [o[0] for o in outs]
        xi_d, xi_g = _mean([v[0] for v in vs]), _mean([v[1] for v in vs])
        jt_d, jt_g, jv_d, jv_g = _zeros(xi_d), _zeros(xi_g), _zeros(xi_d), _zeros(xi_g)
        for i, (f, (_, pull, _)) in enumerate(zip(fns, outs)):
            c = vs[m - 1 - i]
            a_d, a_g = pull(c)
            _, (b_d, b_g), _ = jvp(f, (d, g), c, has_aux=True)
            jt_d = {k: jt_d[k] + a_d[k] / m for k in jt_d}
            jt_g = {k: jt_g[k] + a_g[k] / m for k in jt_g}
            jv_d = {k: jv_d[k] + b_d[k] / m for k in jv_d}
            jv_g = {k: jv_g[k] + b_g[k] / m for k in jv_g}
        adj_d = {k: 0.5 * (jt_d[k] - jv_d[k]) for k in jt_d}
        adj_g = {k: 0.5 * (jt_g[k] - jv_g[k]) for k in jt_g}
        lam = gamma
        stats = {}
        if align:
            n = sum(t.numel() for t in (*xi_d.values(), *xi_g.values()))
            inner = (_dot(xi_d, jt_d) + _dot(xi_g, jt_g)) * (_dot(adj_d, jt_d) + _dot(adj_g, jt_g))
            sign = torch.sign(inner / n + align_eps)
            lam = lam * sign
            stats["sga_sign"] = sign
        u_d = {k: xi_d[k] + lam * adj_d[k] for k in xi_d}
        u_g = {k: xi_g[k] + lam * adj_g[k] for k in xi_g}
        lds = [o[2][0] for o in outs]
        lgs = [o[2][1] for o in outs]
        stats = dict(loss_d=sum(lds) / m, loss_g=sum(lgs) / m,
                     grad_norm_d=_dot(xi_d, xi_d).sqrt(), grad_norm_g=_dot(xi_g, xi_g).sqrt(),
                     adjustment_norm=(_dot(adj_d, adj_d) + _dot(adj_g, adj_g)).sqrt(), **stats)
        return u_d, u_g, stats

    return direction


def gradient_penalty(players: Players, on: str) -> Callable:
    """``R1``/``R2`` for one member: SimGD on L_D + γ·mean ½‖∇ₓD(x)‖², x the real (r1) or the
    generated (r2) samples, held constant; L_G = −L_D no longer holds."""
    plain = Players(players.generator, players.discriminator, players.loss)
    plain.zero_sum = False

    def direction(d: Params, g: Params, x, z, gamma):
        x_pen = x if on == "real" else players.G(g, z)   # outside the derivative: a constant

        def penalized(d_, g_, xs, zs):
            loss_d, loss_g = players.losses(d_, g_, xs, zs)
            gx = grad(lambda t: players.D(d_, t).sum())(x_pen)
            terms = 0.5 * gx.square().flatten(1).sum(-1)
            return loss_d + (gamma * terms).mean(), loss_g

        return one_member(plain, [], False, losses=penalized)(d, g, x, z, gamma)

    return direction


def flow_cosines(players: Players) -> Callable:
    """The flow-reversal diagnostic (``gantrain.rules.flow``) for one member: the cosine between
    each player's direction u and its plain gradient of the game's own losses on the same batch
    and point (NaN where either is zero)."""
    def cosines(d: Params, g: Params, x, z, u_d: Params, u_g: Params) -> dict[str, torch.Tensor]:
        (v_d, v_g), _ = players.gradients(d, g, x, z)
        cos = lambda a, b: _dot(a, b) / (_dot(a, a).sqrt() * _dot(b, b).sqrt())  # noqa: E731
        return {"flow_cos_g": cos(u_g, v_g), "flow_cos_d": cos(u_d, v_d)}

    return cosines


def build_direction(method_cfg, players: Players) -> Callable:
    """The one-member direction function of a method (ConfigError when the ensemble has none).

    Args:
        method_cfg: the ``method`` section: its ``name`` and options.
        players: the game's players (losses and gradients of one member).

    Returns:
        The direction over stacked members: (d, g, x, z, gamma) → (u_d, u_g, stats), each [N, ...].
    """
    name = method_cfg.name
    check_covered(name)
    check_estimate(method_cfg)
    rule = RULES[name]
    halves = rule.estimate(method_cfg) == "unbiased"
    if rule.ensemble in ("simultaneous", "surrogate"):
        return simultaneous(players, rule.penalize_generator, rule.penalize_discriminator,
                            halves and rule.penalized(), plain=rule.ensemble == "simultaneous")
    if rule.ensemble == "symplectic":
        return vmap(sga(players, halves, bool(method_cfg.get("align", False)),
                        float(method_cfg.get("align_eps", 0.1))))
    return vmap(gradient_penalty(players, rule.on))
