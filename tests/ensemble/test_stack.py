"""``gantrain.ensemble.stack.Stacked`` against each member's own module, run alone: outputs,
per-member gradients of the summed loss (and of a squared-gradient penalty, double backward), and
batch norm's running statistics, which must move per member as each module's own do."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gantrain.ensemble.stack import Stacked

N, B, D = 3, 16, 4


def nets(seed: int = 0, batch_norm: bool = True) -> list[nn.Module]:
    torch.manual_seed(seed)
    norm = (nn.BatchNorm1d(8),) if batch_norm else ()
    return [nn.Sequential(nn.Linear(D, 8), *norm, nn.ReLU(), nn.Linear(8, 1)).double()
            for _ in range(N)]


def test_batch_norm_moves_each_members_own_statistics():
    mods = nets()
    refs = [copy.deepcopy(m) for m in mods]
    stacked = Stacked(mods)
    x = torch.randn(N, B, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for _ in range(3):   # three training-mode passes: running stats and the batch count move
        out = stacked(x)
        want = torch.stack([r(x[i]) for i, r in enumerate(refs)])
        torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    for i, r in enumerate(refs):
        got = nn.Sequential(nn.Linear(D, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1)).double()
        stacked.write_member(i, got)
        for (name, a), (_, b) in zip(got.state_dict().items(), r.state_dict().items()):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=f"member {i} {name}")
        assert int(got[1].num_batches_tracked) == 3
    # and the members' statistics differ (each saw its own batch)
    means = stacked.buffers_stacked()[stacked.buffer_names.index("1.running_mean")]
    assert not torch.allclose(means[0], means[1])


@pytest.mark.parametrize("batch_norm", [True, False], ids=["vmapped", "batched-linear"])
def test_gradients_and_penalty_gradients_are_each_members_own(batch_norm):
    mods = nets(2, batch_norm)
    refs = [copy.deepcopy(m) for m in mods]
    stacked = Stacked(mods)
    assert (stacked.net is None) == batch_norm   # an MLP runs its own forward, Linears stacked
    x = torch.randn(N, B, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def penalized(loss, params):
        g = torch.autograd.grad(loss, params, create_graph=True)
        return loss + 0.5 * sum(t.square().sum() for t in g)

    losses = stacked(x).square().flatten(1).mean(1)   # one loss per member
    total = penalized(losses.sum(), list(stacked.weights))
    got = torch.autograd.grad(total, list(stacked.weights))
    for i, r in enumerate(refs):
        params = [p for p in r.parameters()]
        want = torch.autograd.grad(penalized(r(x[i]).square().mean(), params), params)
        for a, b in zip(got, want):
            torch.testing.assert_close(a[i], b, rtol=1e-10, atol=1e-12)
