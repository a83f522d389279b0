"""Inception score and FID math against independent numpy/scipy computations."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gantrain.metrics.fid import feature_stats, fid_from_features, fid_from_stats
from gantrain.metrics.inception_score import inception_score


# --- independent references -------------------------------------------------------------------
def reference_is(probs: np.ndarray, splits: int) -> tuple[float, float]:
    """Salimans et al.'s TF code, written out with explicit loops."""
    n = probs.shape[0]
    scores = []
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        py = part.mean(axis=0)
        kls = []
        for row in part:
            kls.append(sum(p * (math.log(p) - math.log(q)) for p, q in zip(row, py) if p > 0))
        scores.append(math.exp(sum(kls) / len(kls)))
    mean = sum(scores) / splits
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / splits)


def reference_fid(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def random_stats(rng, d, n):
    a = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / math.sqrt(d)
    b = 0.7 * rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / math.sqrt(d) + 0.3
    return a, b


# --- Inception score ------------------------------------------------------------------------
@pytest.mark.parametrize("n,splits", [(60, 1), (60, 3), (47, 5)])
def test_inception_score_matches_loop_on_random_probabilities(n, splits):
    rng = np.random.default_rng(n + splits)
    probs = rng.dirichlet(np.full(13, 0.3), size=n)
    mean, std = inception_score(probs, splits, kind="probs")
    ref_mean, ref_std = reference_is(probs, splits)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8, abs=1e-12)


def test_inception_score_from_logits_equals_from_softmax():
    rng = np.random.default_rng(1)
    logits = 3 * rng.standard_normal((40, 1008))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    assert inception_score(torch.tensor(logits), 4) == pytest.approx(
        reference_is(probs, 4), rel=1e-9)
    assert inception_score(logits, 4) == pytest.approx(inception_score(probs, 4, kind="probs"))


def test_inception_score_known_values():
    uniform = np.full((30, 10), 0.1)
    assert inception_score(uniform, 3, kind="probs") == pytest.approx((1.0, 0.0), abs=1e-12)
    assert inception_score(np.zeros((30, 1008)), 3) == pytest.approx((1.0, 0.0), abs=1e-12)
    for k in (1, 2, 7):
        # one-hot predictions spread evenly over k classes, in every split
        onehot = np.eye(20)[np.tile(np.arange(k), 6)]
        assert inception_score(onehot, 2, kind="probs") == pytest.approx((k, 0.0), abs=1e-9)
        assert inception_score(1e4 * onehot, 2) == pytest.approx((k, 0.0), abs=1e-6)


def test_inception_score_rejects_bad_input():
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.zeros((5, 3)), 10)
    with pytest.raises(ValueError, match="rows summing to 1"):
        inception_score(np.full((5, 3), 0.5), 1, kind="probs")
    with pytest.raises(ValueError, match="kind"):
        inception_score(np.zeros((5, 3)), 1, kind="softmax")


# --- FID --------------------------------------------------------------------------------------
def test_feature_stats_are_float64_mean_and_unbiased_covariance():
    f = np.random.default_rng(2).standard_normal((50, 8)).astype(np.float32)
    mu, sigma = feature_stats(torch.tensor(f))
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, f.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64).T, ddof=1), rtol=1e-12)
    with pytest.raises(ValueError):
        feature_stats(f[:1])


@pytest.mark.parametrize("d,n", [(16, 200), (64, 40)])  # full rank, and rank-deficient (n < d)
def test_fid_matches_scipy_sqrtm(d, n):
    a, b = random_stats(np.random.default_rng(d), d, n)
    s_a, s_b = feature_stats(a), feature_stats(b)
    expected = reference_fid(*s_a, *s_b)
    assert fid_from_stats(*s_a, *s_b) == pytest.approx(expected, rel=1e-6)
    assert fid_from_stats(*s_a, *s_b, method="sqrtm") == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-6)
    assert fid_from_stats(*s_b, *s_a) == pytest.approx(expected, rel=1e-6)  # symmetric


def test_fid_known_values():
    rng = np.random.default_rng(3)
    mu, sigma = feature_stats(rng.standard_normal((100, 20)))
    assert fid_from_stats(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = rng.uniform(0.1, 2, 20), rng.uniform(0.1, 2, 20)
    m1, m2 = rng.standard_normal(20), rng.standard_normal(20)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    for method in ("eigh", "sqrtm"):
        assert fid_from_stats(m1, np.diag(a), m2, np.diag(b), method=method) == pytest.approx(
            expected, rel=1e-10)
    with pytest.raises(ValueError, match="do not match"):
        fid_from_stats(m1, np.diag(a), m2[:5], np.diag(b[:5]))
    with pytest.raises(ValueError, match="method"):
        fid_from_stats(m1, np.diag(a), m2, np.diag(b), method="svd")
