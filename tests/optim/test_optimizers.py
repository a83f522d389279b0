import pytest
import torch

from gantrain.optim import build_optimizer
from gantrain.optim.rmsprop_tf import RMSpropTF
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
