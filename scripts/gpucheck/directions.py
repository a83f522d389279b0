"""Every rule's direction on the device against the CPU float64 reference, and channels_last
against NCHW.

The reference is gantrain's own rule on the CPU in float64 (the tests check that path against full
Hessians and closed forms); here the question is whether the device's float32 kernels, with TF32
off and on, give the same numbers. Field rules are compared by their direction from one fixed
batch; the rules that step themselves (AltGD, extragradient, optimistic) by the parameters after
two SGD steps on that batch, as a fraction of the displacement.
"""
from __future__ import annotations

import time

import torch

from gantrain.config import validate
from gantrain.games import build_game
from gantrain.optim import build_optimizer
from gantrain.rules import RULES, build_rule
from gantrain.rules.base import FieldRule
from gpucheck.common import TF32_BOUND, Sizes, compose_cfg, f32_bound, image_overrides, rel_err, set_tf32

ARCHS = ("resnet_v1", "dcgan4", "conv4")
GAMMA = 0.5
STEP_LR = 1e-2     # SGD step of the self-stepping rules
CHANNELS_LAST_RULES = ("simgd", "jare")
LOOSE = 1e-3       # a CPU float32 error above this is named in the note


def field_rules() -> list[str]:
    return sorted(n for n, c in RULES.items() if issubclass(c, FieldRule))


def step_rules() -> list[str]:
    return sorted(n for n, c in RULES.items() if not issubclass(c, FieldRule))


class Case:
    """One (arch, rule) at one size: games on any device and dtype with the same parameters, and
    one fixed batch."""

    def __init__(self, arch: str, rule: str, sizes: Sizes):
        self.cfg = compose_cfg([*image_overrides(arch, sizes.dir_filters, sizes.dir_batch,
                                                 sizes.dir_res),
                                f"method={rule}", f"gamma={GAMMA}", "optim=sgd", f"eta={STEP_LR}",
                                "engine.channels_last=false"])
        self.rule = self.new_rule()
        self.ref = self.game("cpu", torch.float64)
        rng = torch.Generator().manual_seed(1)
        self.x, self.z = self.ref.sample_batch(sizes.dir_batch, rng)
        self.w0 = [p.detach().clone() for p in self.params(self.ref)]

    def new_rule(self):
        cfg = self.cfg
        return build_rule(cfg.method.name, cfg.gamma,
                          {k: v for k, v in cfg.method.items() if k != "name"})

    @staticmethod
    def params(game) -> list[torch.Tensor]:
        return [*game.g_params(), *game.d_params()]

    def game(self, device: str, dtype: torch.dtype, channels_last: bool = False):
        cfg = self.cfg.copy()
        cfg.engine.channels_last = channels_last
        torch.manual_seed(0)
        return build_game(validate(cfg), device, dtype)

    def output(self, game) -> list[torch.Tensor]:
        """The direction (u_φ, u_θ) of a field rule; the displacement of the parameters after two
        SGD steps otherwise. Both from the reference point w0 and the fixed batch."""
        with torch.no_grad():
            for p, w in zip(self.params(game), self.w0):
                p.copy_(w.to(p.dtype))
        dev = next(iter(game.generator.parameters()))
        x = self.x.to(dev.device, dev.dtype)
        z = self.z.to(dev.device, dev.dtype)
        if game.channels_last or getattr(game, "force_nhwc", False):
            x = x.contiguous(memory_format=torch.channels_last)
        rule = self.rule
        if isinstance(rule, FieldRule):
            out = rule.direction([rule.losses(game, x, z)], game.d_params(), game.g_params(),
                                 zero_sum=game.zero_sum)
            return [t.detach() for t in (*out.u_g, *out.u_d)]
        rule = self.new_rule()   # fresh state (optimistic's previous gradient)
        game.sample_batch = lambda n, rng, parts=1: (x, z)   # the fixed batch, every draw
        opt_d = build_optimizer(self.cfg.optim, game.d_params())
        opt_g = build_optimizer(self.cfg.optim, game.g_params())
        rng = torch.Generator(device=dev.device).manual_seed(1)
        for _ in range(2):
            rule.train_step(game, opt_d, opt_g, x.shape[0], rng)
        return [(p.detach().double().cpu() - w.cpu()) for p, w in zip(self.params(game), self.w0)]


def compare_rule(arch: str, rule: str, sizes: Sizes, device: str) -> dict:
    """Relative errors against the float64 reference: CPU float32, device TF32 off and on (TF32
    only on CUDA; None elsewhere)."""
    case = Case(arch, rule, sizes)
    ref = case.output(case.ref)
    cpu32 = rel_err(case.output(case.game("cpu", torch.float32)), ref)
    game = case.game(device, torch.float32)
    dev32 = rel_err(case.output(game), ref)
    tf32 = None
    if device.startswith("cuda"):
        set_tf32(True)
        try:
            tf32 = rel_err(case.output(game), ref)
        finally:
            set_tf32(False)
    bound = f32_bound(cpu32)
    return {"arch": arch, "rule": rule, "cpu_f32": cpu32, "device_f32": dev32,
            "device_tf32": tf32, "bound_f32": bound,
            "passed": dev32 <= bound and (tf32 is None or tf32 <= max(TF32_BOUND, bound))}


def check_directions(sizes: Sizes, device: str, rules: list[str] | None = None,
                     max_s: float | None = None):
    """Every rule on every arch of ARCHS; fails if any device error is over its bound, or if
    ``max_s`` seconds ran out before every case was compared (CGD, the slowest, comes last)."""
    rules = sorted(rules or field_rules() + step_rules(), key=lambda r: (r == "cgd", r))
    t0, rows, skipped = time.perf_counter(), [], []
    for r in rules:
        for a in ARCHS:
            if max_s is not None and time.perf_counter() - t0 > max_s:
                skipped.append(f"{a}/{r}")
            else:
                rows.append(compare_rule(a, r, sizes, device))
    worst_f32 = max((r["device_f32"] / r["bound_f32"] for r in rows), default=0.0)
    worst_tf32 = max((r["device_tf32"] for r in rows if r["device_tf32"] is not None), default=None)
    failed = [f"{r['arch']}/{r['rule']}" for r in rows if not r["passed"]]
    # Where float32 on the CPU is itself far from float64, the comparison proves little: say so.
    loose = [f"{r['arch']}/{r['rule']} ({r['cpu_f32']:.2g})" for r in rows if r["cpu_f32"] > LOOSE]
    tf32 = ("TF32 not applicable (no CUDA)" if worst_tf32 is None else
            f"max TF32 error {worst_tf32:.3g} (stated bound {TF32_BOUND:g})")
    note = (f"max device-f32 error / its bound {worst_f32:.3g}; {tf32}"
            + (f"; over bound: {', '.join(failed)}" if failed else "")
            + (f"; not compared ({max_s:g} s spent): {', '.join(skipped)}" if skipped else "")
            + (f"; float32 itself far from float64 (CPU error): {', '.join(loose)}" if loose else ""))
    return not failed and not skipped, {"rows": rows, "skipped": skipped,
                                        "max_f32_over_bound": worst_f32,
                                        "max_tf32_rel_err": worst_tf32,
                                        "tf32_bound": TF32_BOUND}, note


def check_channels_last(sizes: Sizes, device: str):
    """The engine's channels_last (engine.channels_last=true) against NCHW, TF32 off: both within
    float32 round-off of the float64 reference, and of each other. On the CPU the engine keeps
    NCHW, so the check converts the nets itself to run the NHWC kernels."""
    rows = []
    set_tf32(False)
    for arch in ARCHS:
        for rule in CHANNELS_LAST_RULES:
            case = Case(arch, rule, sizes)
            ref = case.output(case.ref)
            bound = f32_bound(rel_err(case.output(case.game("cpu", torch.float32)), ref))
            nchw = case.output(case.game(device, torch.float32))
            game = case.game(device, torch.float32, channels_last=True)
            if not game.channels_last:     # CPU: the same layout change by hand
                game.generator.to(memory_format=torch.channels_last)
                game.discriminator.to(memory_format=torch.channels_last)
                game.force_nhwc = True
            convs = [m.weight for m in game.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
            nhwc_layout = all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
            nhwc = case.output(game)
            row = {"arch": arch, "rule": rule, "nchw": rel_err(nchw, ref), "nhwc": rel_err(nhwc, ref),
                   "nhwc_vs_nchw": rel_err(nhwc, nchw), "bound_f32": bound,
                   "weights_channels_last": nhwc_layout}
            row["passed"] = nhwc_layout and max(row["nchw"], row["nhwc"], row["nhwc_vs_nchw"]) <= bound
            rows.append(row)
    failed = [f"{r['arch']}/{r['rule']}" for r in rows if not r["passed"]]
    worst = max(r["nhwc_vs_nchw"] for r in rows)
    return not failed, {"rows": rows}, (f"max NHWC vs NCHW relative difference {worst:.3g}"
                                        + (f"; failed: {', '.join(failed)}" if failed else ""))
