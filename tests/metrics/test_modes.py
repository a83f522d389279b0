import math

import pytest
import torch

from gantrain.metrics.modes import mode_metrics

CENTERS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def test_all_modes_evenly_covered():
    samples = CENTERS.repeat(25, 1) + 0.01 * torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    m = mode_metrics(samples, CENTERS, std=0.05)
    assert m["modes_covered"] == 4
    assert m["high_quality_fraction"] == 1.0
    assert m["mode_kl"] == pytest.approx(0.0, abs=1e-12)


def test_collapse_to_one_mode_and_off_mode_samples():
    samples = torch.cat([CENTERS[:1].repeat(60, 1), torch.full((40, 2), 5.0)])
    m = mode_metrics(samples, CENTERS, std=0.05)
    assert m["modes_covered"] == 1
    assert m["high_quality_fraction"] == pytest.approx(0.6)
    assert m["mode_kl"] == pytest.approx(math.log(4))


def test_min_share_decides_coverage_and_nothing_near_gives_log_k():
    samples = torch.cat([CENTERS[:1].repeat(98, 1), CENTERS[1:2].repeat(2, 1)])
    assert mode_metrics(samples, CENTERS, 0.05, min_share=0.01)["modes_covered"] == 2
    assert mode_metrics(samples, CENTERS, 0.05, min_share=0.05)["modes_covered"] == 1
    far = mode_metrics(torch.full((10, 2), 9.0), CENTERS, 0.05)
    assert far["high_quality_fraction"] == 0 and far["mode_kl"] == pytest.approx(math.log(4))
