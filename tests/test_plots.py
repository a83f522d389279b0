"""Training-time figures: the density under the MoG samples against scipy's own KDE, and a default
run that imports neither matplotlib.pyplot nor scipy.stats (start-up, issue 28)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from gantrain.plots import gaussian_kde_density, scatter_kde
from tests.report.test_report import assert_png


@pytest.mark.parametrize("n, d, seed", [(3, 2, 0), (400, 2, 1), (5000, 2, 2), (50, 1, 3), (60, 3, 4)])
def test_density_equals_scipy_gaussian_kde(n, d, seed):
    """scipy.stats.gaussian_kde (Scott's factor, ddof-1 covariance) is the reference, on
    correlated, shifted points and evaluation points inside and far outside them."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    at = rng.normal(scale=3.0, size=(3000, d))
    ours = gaussian_kde_density(points, at, chunk=700)
    ref = gaussian_kde(points.T)(at.T)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-300)


def test_density_refuses_what_scipy_refuses():
    """Collapsed samples (a singular covariance) and too few samples raise, as scipy does; the
    figure then draws the points without a density."""
    line = np.stack([np.arange(10.0), 2 * np.arange(10.0)], 1)
    with pytest.raises(np.linalg.LinAlgError):
        gaussian_kde_density(line, line)
    with pytest.raises(np.linalg.LinAlgError):
        gaussian_kde(line.T)(line.T)
    with pytest.raises(ValueError):
        gaussian_kde_density(np.ones((2, 2)), np.ones((1, 2)))


def test_figures_are_written_without_pyplot_or_scipy(tmp_path):
    """The two training-time figures, drawn in a fresh interpreter, write real PNGs and leave
    matplotlib.pyplot and scipy.stats unimported (collapsed samples included)."""
    code = f"""
import json, sys
import numpy as np
from pathlib import Path
from gantrain.plots import mode_histogram, scatter_kde
rng = np.random.default_rng(0)
out = Path({str(tmp_path)!r})
scatter_kde(rng.normal(size=(500, 2)), np.eye(2), out / "kde.png", "t")
scatter_kde(np.zeros((50, 2)), np.eye(2), out / "collapsed.png", "t")
mode_histogram(rng.integers(0, 5, 1000), out / "modes.png", "t")
print(json.dumps(["matplotlib.pyplot" in sys.modules, "scipy.stats" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, False]
    for name in ("kde.png", "collapsed.png"):
        assert_png(tmp_path / name)
    assert_png(tmp_path / "modes.png", min_side=200)


def test_scatter_kde_draws_the_density(tmp_path, monkeypatch):
    """The density is drawn: the same samples give another picture when no density can be
    computed (the except branch), so an error swallowed every time would show."""
    import gantrain.plots as plots

    pts = np.random.default_rng(1).normal(size=(300, 2))
    scatter_kde(pts, np.eye(2), tmp_path / "with.png")

    def fail(*a, **k):
        raise np.linalg.LinAlgError("planted")

    monkeypatch.setattr(plots, "gaussian_kde_density", fail)
    scatter_kde(pts, np.eye(2), tmp_path / "without.png")
    assert (tmp_path / "with.png").read_bytes() != (tmp_path / "without.png").read_bytes()
    assert (tmp_path / "with.png").stat().st_size > 1.5 * (tmp_path / "without.png").stat().st_size
