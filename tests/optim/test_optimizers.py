import pytest
import torch

from gantrain.optim import build_optimizer
from gantrain.optim.tf_rmsprop import RMSpropTF
from tests.helpers import make_cfg


def test_rmsprop_tf_matches_tensorflow_formula():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = RMSpropTF([p], lr=0.01, decay=0.9, eps=1e-10)
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
    for opt, p in ((RMSpropTF([a], lr=0.1), a), (torch.optim.RMSprop([b], lr=0.1, alpha=0.9), b)):
        p.grad = torch.full((3,), 0.5)
        opt.step()
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                      ("rmsprop", torch.optim.RMSprop), ("rmsprop_tf", RMSpropTF)])
def test_eta_sets_the_step_size(name, cls):
    cfg = make_cfg(f"optim={name}", "eta=0.0123")
    opt = build_optimizer(cfg.optim, [torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(opt, cls)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0123)


def test_an_optimizer_added_in_process_is_an_option_validated_and_built():
    """A fifth optimizer joins as a plugin's would: registered, it is a config option whose
    defaults come from its Options, its checks refuse a bad value, and the trainer builds it."""
    from dataclasses import dataclass

    from gantrain.config import ConfigError, validate
    from gantrain.config.store import forget, register
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
        def build(cls, cfg, params):
            return torch.optim.SGD(params, lr=cfg.lr / 2, momentum=cfg.momentum)

    OPTIMS.add(HalfSGD.name, HalfSGD)
    try:
        register()
        cfg = make_cfg(f"optim={HalfSGD.name}", "eta=0.5")
        validate(cfg)
        assert cfg.optim.momentum == 0.25 and cfg.optim.lr == 0.5
        opt = build_optimizer(cfg.optim, [torch.nn.Parameter(torch.zeros(2))])
        assert opt.param_groups[0]["lr"] == 0.25 and opt.param_groups[0]["momentum"] == 0.25
        with pytest.raises(ConfigError, match=r"optim.momentum=1.5 is invalid"):
            validate(make_cfg(f"optim={HalfSGD.name}", "optim.momentum=1.5"))
    finally:
        OPTIMS.remove(HalfSGD.name)
        forget("optim", HalfSGD.name)
    with pytest.raises(ConfigError, match=r"optim='half_sgd_test' is invalid: allowed: sgd, adam"):
        build_optimizer(cfg.optim, [torch.nn.Parameter(torch.zeros(2))])
