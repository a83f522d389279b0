"""gantrain's optimizers: one update formula per optimizer (``stacked_update``) for single runs
(one member) and ensembles (N), against torch.optim's own optimizers and TensorFlow's formula."""
import pytest
import torch

from gantrain.optim import build_optimizer
from gantrain.optim.stacked import StackedOptimizer
from tests.helpers import make_cfg

TORCH = {"sgd": lambda ps, c: torch.optim.SGD(ps, lr=c.lr, momentum=c.momentum),
         "adam": lambda ps, c: torch.optim.Adam(ps, lr=c.lr, betas=tuple(c.betas), eps=c.eps),
         "rmsprop": lambda ps, c: torch.optim.RMSprop(ps, lr=c.lr, alpha=c.alpha, eps=c.eps,
                                                      momentum=c.momentum)}
CASES = [("sgd", ()), ("sgd", ("optim.momentum=0.9",)), ("adam", ("optim.betas=[0.5,0.99]",)),
         ("rmsprop", ()), ("rmsprop", ("optim.momentum=0.5",))]


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g, dtype=torch.float64))
            for s in ((4, 3), (3,), (2, 2, 2))]


def _grads(k: int, like) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + k)
    return [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in like]


def _step(opt, params, k):
    for p, g in zip(params, _grads(k, params)):
        p.grad = g
    opt.step()


@pytest.mark.parametrize("name, extra", CASES)
def test_a_run_steps_as_torch_optim_does_and_resumes_from_its_checkpoints(name, extra):
    """A single run's optimizer follows torch.optim's trajectory (float64), resumes from a torch
    optimizer's state_dict (checkpoints before gantrain stepped its own optimizers) and from its
    own, and continues the same steps."""
    cfg = make_cfg(f"optim={name}", "eta=0.05", *extra).optim
    ours, ref = _params(0), _params(0)
    opt, torch_opt = build_optimizer(cfg, ours), TORCH[name](ref, cfg)
    for k in range(7):
        _step(opt, ours, k)
        _step(torch_opt, ref, k)
        for a, b in zip(ours, ref):
            torch.testing.assert_close(a.detach(), b.detach(), atol=1e-13, rtol=1e-13)
    from_torch, from_ours = _params(0), _params(0)
    with torch.no_grad():
        for a, b, p, q in zip(from_torch, from_ours, ref, ours):
            a.copy_(p)
            b.copy_(q)
    resumed_torch = build_optimizer(cfg, from_torch)
    resumed_torch.load_state_dict(torch_opt.state_dict())
    resumed_ours = build_optimizer(cfg, from_ours)
    resumed_ours.load_state_dict(opt.state_dict())
    for k in range(7, 12):
        for o, ps in ((opt, ours), (torch_opt, ref), (resumed_torch, from_torch),
                      (resumed_ours, from_ours)):
            _step(o, ps, k)
    for a, b, c, d in zip(ours, ref, from_torch, from_ours):
        assert torch.equal(a, d)   # our own checkpoint: bit for bit
        torch.testing.assert_close(c.detach(), b.detach(), atol=1e-13, rtol=1e-13)


@pytest.mark.parametrize("name, extra", CASES)
def test_members_each_step_as_their_own_torch_optimizer(name, extra):
    """Three stacked members with their own learning rates, the second held back for two steps:
    each equals a torch optimizer that skipped those steps."""
    cfg = make_cfg(f"optim={name}", *extra).optim
    lrs = [0.01, 0.05, 0.2]
    members = [_params(i) for i in range(3)]
    refs = [_params(i) for i in range(3)]
    torch_opts = []
    for lr, ps in zip(lrs, refs):
        c = make_cfg(f"optim={name}", f"eta={lr}", *extra).optim
        torch_opts.append(TORCH[name](ps, c))
    names = ["a", "b", "c"]
    stack = {n: torch.stack([m[j].detach() for m in members]) for j, n in enumerate(names)}
    opt = StackedOptimizer(cfg, lrs, stack)
    for k in range(6):
        active = torch.tensor([True, k not in (1, 2), True])
        grads = [_grads(10 * i + k, refs[i]) for i in range(3)]
        stack = opt.step(stack, {n: torch.stack([g[j] for g in grads]) for j, n in enumerate(names)},
                         active)
        for i in range(3):
            if bool(active[i]):
                for p, g in zip(refs[i], grads[i]):
                    p.grad = g
                torch_opts[i].step()
    for i in range(3):
        for j, n in enumerate(names):
            torch.testing.assert_close(stack[n][i], refs[i][j].detach(), atol=1e-13, rtol=1e-13)


def test_rmsprop_tf_matches_tensorflow_formula():
    cfg = make_cfg("optim=rmsprop_tf", "eta=0.01", "optim.decay=0.9", "optim.eps=1e-10").optim
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = build_optimizer(cfg, [p])
    w, ms = p.detach().clone(), torch.ones(5, dtype=torch.float64)   # accumulator starts at 1
    for _ in range(4):
        g = torch.randn(5, dtype=torch.float64)
        p.grad = g.clone()
        opt.step()
        ms = 0.9 * ms + 0.1 * g * g
        w = w - 0.01 * g / torch.sqrt(ms + 1e-10)                     # eps inside the root
    torch.testing.assert_close(p.detach(), w, atol=1e-14, rtol=0)


def test_rmsprop_tf_differs_from_pytorch_rmsprop():
    a = torch.nn.Parameter(torch.ones(3))
    b = torch.nn.Parameter(torch.ones(3))
    cfg = make_cfg("optim=rmsprop_tf", "eta=0.1").optim
    for opt, p in ((build_optimizer(cfg, [a]), a), (torch.optim.RMSprop([b], lr=0.1, alpha=0.9), b)):
        p.grad = torch.full((3,), 0.5)
        opt.step()
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "rmsprop_tf"])
def test_eta_sets_the_step_size(name):
    cfg = make_cfg(f"optim={name}", "eta=0.0123")
    opt = build_optimizer(cfg.optim, [torch.nn.Parameter(torch.zeros(2))])
    assert opt.lr == pytest.approx(0.0123)
    assert opt.state_dict()["param_groups"][0]["lr"] == pytest.approx(0.0123)


def test_an_optimizer_added_in_process_is_an_option_validated_and_built():
    """A fifth optimizer joins as a plugin's would: registered, it is a config option whose
    defaults come from its Options, its checks refuse a bad value, and a run steps with its
    formula (written once, for single runs and ensembles)."""
    from dataclasses import dataclass

    from gantrain.config import validate
    from gantrain.config.store import forget, register
    from gantrain.errors import ConfigError
    from gantrain.optim import OPTIMS
    from gantrain.optim.sgd import SGD, SGDOptions

    @dataclass
    class HalfOptions(SGDOptions):
        name: str = "half_sgd_test"
        momentum: float = 0.25

    class HalfSGD(SGD):
        name = "half_sgd_test"
        Options = HalfOptions

        @classmethod
        def stacked_update(cls, cfg, p, g, slots, s):
            return p - 0.5 * s.lr * g, {}

        @classmethod
        def used_slots(cls, cfg):
            return ()

    OPTIMS.add(HalfSGD.name, HalfSGD)
    try:
        register()
        cfg = make_cfg(f"optim={HalfSGD.name}", "eta=0.5")
        validate(cfg)
        assert cfg.optim.momentum == 0.25 and cfg.optim.lr == 0.5
        p = torch.nn.Parameter(torch.zeros(2))
        opt = build_optimizer(cfg.optim, [p])
        p.grad = torch.ones(2)
        opt.step()
        assert torch.equal(p.detach(), torch.full((2,), -0.25))
        with pytest.raises(ConfigError, match=r"optim.momentum=1.5 is invalid"):
            validate(make_cfg(f"optim={HalfSGD.name}", "optim.momentum=1.5"))
    finally:
        OPTIMS.remove(HalfSGD.name)
        forget("optim", HalfSGD.name)
    with pytest.raises(ConfigError, match=r"optim='half_sgd_test' is invalid: allowed: sgd, adam"):
        build_optimizer(cfg.optim, [torch.nn.Parameter(torch.zeros(2))])
