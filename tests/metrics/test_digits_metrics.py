"""The digits metrics: modes covered and KL against hand computations on planted histograms,
digits-FD against pytorch-fid's function, and DigitsEvaluator fed real digits as its "generated"
samples (the shipped classifier; reference statistics in a temporary cache)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from scipy.linalg import LinAlgWarning

from gantrain.data.digits import digit_images, stacked_digits
from gantrain.errors import ConfigError
from gantrain.metrics import defaults
from gantrain.metrics.digits_classifier import DigitsClassifier
from gantrain.metrics.digits_eval import DigitsEvaluator
from gantrain.metrics.digits_fd import digits_fd, digits_feature_stats
from gantrain.metrics.digits_predict import features
from gantrain.metrics.mode_histogram import histogram, mode_kl, mode_scores, modes_covered


def pytorch_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    with warnings.catch_warnings():
        # pytorch-fid 0.3.0 passes sqrtm's deprecated disp=; dead ReLU features make the
        # covariances singular, which scipy's sqrtm warns about (its result is still accurate)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", LinAlgWarning)
        return float(calculate_frechet_distance(f1.mean(0), np.cov(f1, rowvar=False),
                                                f2.mean(0), np.cov(f2, rowvar=False)))


# --- modes covered and KL ------------------------------------------------------------------------
@pytest.mark.parametrize("k", [10, 1000])
def test_one_mode_uniform_and_empty_modes(k):
    one = np.full(500, 7)
    s = mode_scores(one, k)
    assert s["modes_covered"] == 1 and s["mode_kl"] == pytest.approx(math.log(k), abs=1e-12)
    assert s["histogram"].dtype == np.int64 and s["histogram"].sum() == 500
    uniform = np.repeat(np.arange(k), 3)
    s = mode_scores(uniform, k)
    assert s["modes_covered"] == k and s["mode_kl"] == pytest.approx(0.0, abs=1e-12)


def test_a_hand_made_three_mode_case():
    # K = 4 modes, counts (6, 3, 1, 0): p = (0.6, 0.3, 0.1, 0)
    labels = np.array([0] * 6 + [1] * 3 + [2])
    counts = histogram(labels, 4)
    assert counts.tolist() == [6, 3, 1, 0]
    kl = 0.6 * math.log(4 * 0.6) + 0.3 * math.log(4 * 0.3) + 0.1 * math.log(4 * 0.1)
    assert mode_kl(counts) == pytest.approx(kl, rel=1e-12)          # 0.3446 nats
    assert modes_covered(counts) == 3
    assert modes_covered(counts, min_count=2) == 2                 # mode 2's single sample drops
    assert modes_covered(counts, min_count=3) == 2                 # "at least": 3 counts
    assert modes_covered(counts, min_count=4) == 1


def test_histograms_refuse_what_they_cannot_count():
    with pytest.raises(ValueError, match="0..9"):
        histogram(np.array([0, 10]), 10)
    with pytest.raises(ValueError, match="0..9"):
        histogram(np.array([-1]), 10)
    with pytest.raises(ValueError):
        histogram(np.array([0.5]), 10)
    with pytest.raises(ValueError):
        mode_kl(np.zeros(10))
    with pytest.raises(ValueError):
        modes_covered(np.ones(3), min_count=0)


# --- digits-FD --------------------------------------------------------------------------------------
def test_digits_fd_matches_pytorch_fid_on_the_same_features():
    rng = np.random.default_rng(0)
    # correlated, rectified features like a ReLU layer's, 192-d as for stacked digits
    a = np.maximum(rng.normal(size=(3000, 192)) @ rng.normal(size=(192, 192)) * 0.1, 0)
    b = np.maximum(rng.normal(0.2, 1.1, size=(2500, 192)) @ rng.normal(size=(192, 192)) * 0.1, 0)
    ref = (a.mean(0), np.cov(a, rowvar=False))
    assert digits_fd(b, ref) == pytest.approx(pytorch_fid(b, a), rel=1e-6)
    assert digits_fd(a, ref) == pytest.approx(0.0, abs=1e-6)


def test_feature_stats_of_the_first_images_only():
    model = DigitsClassifier()    # untrained: any fixed feature map will do
    x = stacked_digits(400, "train", seed=3)[0]
    mu, sigma = digits_feature_stats(model, x.split(100), limit=250)
    f = features(model, x[:250]).numpy()
    np.testing.assert_allclose(mu, f.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(f, rowvar=False), rtol=1e-10, atol=1e-14)


# --- the evaluator ----------------------------------------------------------------------------------
class StandIn:
    """The members of ImageData that DigitsEvaluator uses, over uint8 digits held here."""

    def __init__(self, name: str, images: torch.Tensor, split: str = "train"):
        self.name, self.images, self.split = name, images, split
        self.channels, self.num_images = images.shape[1], len(images)
        self.calls = 0

    def protocol(self):
        return {"dataset": self.name, "root": None, "split": self.split, "resolution": 16,
                "num_images": self.num_images, "channels": self.channels}

    def reference_images(self, n, batch_size):
        self.calls += 1
        for i in range(0, n, batch_size):
            yield self.images[i:min(i + batch_size, n)].float() / 127.5 - 1


class Replay:
    """sample_fn over fixed images (uint8, or floats in [-1, 1]), in [-1, 1], in order."""

    def __init__(self, images: torch.Tensor):
        self.x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images
        self.i = 0

    def __call__(self, n):
        out = self.x[self.i:self.i + n]
        self.i += n
        return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache folder for the reference statistics."""
    return tmp_path_factory.mktemp("digits_cache")


def cfg(cache, **kw):
    return {"name": "digits", "num_samples": 3000, "batch_size": 250, "splits": 10,
            "cache_dir": str(cache), **kw}


@pytest.mark.slow
def test_stacked_real_digits_score_as_real(cache):
    """Held-out stacked digits as the "generated" samples, against stacked train digits."""
    data = StandIn("stacked_digits", stacked_digits(3000, "train", seed=0)[0])
    ev = DigitsEvaluator(cfg(cache), data)
    x, y = stacked_digits(3000, "test", seed=5)
    out = ev.evaluate(Replay(x), 3000)
    truth = histogram(y.numpy(), 1000)
    assert abs(out["modes_covered"] - modes_covered(truth)) <= 20     # ~95% of the 1 000 modes
    assert out["mode_kl"] == pytest.approx(mode_kl(truth), abs=0.03)
    assert out["classifier_score"] is None and out["classifier_score_std"] is None
    assert ev.last_samples.dtype == np.uint8 and np.array_equal(ev.last_samples, x.numpy())
    assert ev.last_histogram.shape == (1000,) and ev.last_histogram.sum() == 3000
    # eval.mode_min_count=3: ~580 of the modes hold 3 of the 3 000 samples (Poisson(3): 58%)
    three = DigitsEvaluator(cfg(cache, mode_min_count=3), StandIn(data.name, data.images)).evaluate(
        Replay(x), 3000)
    assert three["modes_covered"] == modes_covered(ev.last_histogram, 3) < out["modes_covered"] - 300
    assert abs(three["modes_covered"] - modes_covered(truth, 3)) <= 20
    # digits-FD against pytorch-fid on features extracted here, and small next to a collapse
    model = ev.model
    ref = features(model, data.images).numpy()
    assert out["digits_fd"] == pytest.approx(pytorch_fid(features(model, x).numpy(), ref), rel=1e-5)
    collapsed = ev.evaluate(Replay(x[:1].expand(3000, -1, -1, -1)), 3000)
    assert out["digits_fd"] < 0.05 * collapsed["digits_fd"]
    assert collapsed["modes_covered"] == 1
    assert collapsed["mode_kl"] == pytest.approx(math.log(1000), abs=1e-12)
    assert data.calls == 1     # the reference statistics are computed once per evaluator
    p = out["protocol"]
    assert p["protocol"] == "digits" and p["num_samples"] == 3000 and p["num_modes"] == 1000
    assert p["mode_min_count"] == 1 and p["quantize"] == defaults.QUANTIZE
    assert p["reference_num_images"] == 3000 and p["reference_dataset"] == "stacked_digits"
    assert p["reference_dataset_num_images"] == 3000 and p["reference_split"] == "train"
    assert p["classifier_held_out_accuracy"] >= 0.97 and len(p["classifier_weights_sha256"]) == 16
    assert p["classifier_key"] == ev.classifier["key"][:16] and p["splits"] is None


@pytest.mark.slow
def test_one_channel_digits_and_their_classifier_score(cache):
    x, y = digit_images("test")
    data = StandIn("digits", digit_images("train")[0])
    ev = DigitsEvaluator(cfg(cache, num_samples=300, splits=3, mode_min_count=25), data)
    out = ev.evaluate(Replay(x))
    truth = np.bincount(y.numpy(), minlength=10)          # 26..36 digits per class
    assert out["modes_covered"] == int((truth >= 25).sum()) == 10
    assert out["mode_kl"] == pytest.approx(mode_kl(truth), abs=0.01)
    # confident, balanced predictions: the score of the 10 classes is close to 10 ...
    assert 8.5 < out["classifier_score"] <= 10.0 and out["classifier_score_std"] < 0.5   # 8.84 measured
    p = out["protocol"]
    assert p["num_modes"] == 10 and p["splits"] == 3 and p["mode_min_count"] == 25
    assert p["reference_num_images"] == 300            # null: as many as generated samples
    # ... and a single repeated digit scores exactly 1 (p(y|x) = p(y)), covers one mode
    collapsed = ev.evaluate(Replay(x[3:4].expand(300, -1, -1, -1)))
    assert collapsed["classifier_score"] == pytest.approx(1.0, abs=1e-9)
    assert collapsed["modes_covered"] == 1
    assert collapsed["mode_kl"] == pytest.approx(math.log(10), abs=1e-12)
    # 300 real digits are ~24 from the train digits (FD's small-sample bias: two disjoint sets of
    # train digits of these sizes are ~22 apart), a collapse ~1 300
    assert out["digits_fd"] < 0.05 * collapsed["digits_fd"]


@pytest.mark.slow
def test_generated_floats_are_scored_as_their_8bit_images(cache):
    x, _ = stacked_digits(200, "test", seed=2)
    data = StandIn("stacked_digits", stacked_digits(500, "train", seed=0)[0])
    ev = DigitsEvaluator(cfg(cache, num_samples=200, batch_size=64), data)
    noisy = x.float() / 127.5 - 1 + (torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
                                     - 0.5) / 127.5 * 0.98        # within half a level
    a = ev.evaluate(Replay(noisy))
    b = ev.evaluate(Replay(x), 200)
    assert np.array_equal(ev.last_samples, x.numpy())
    assert a["digits_fd"] == b["digits_fd"] and a["modes_covered"] == b["modes_covered"]


def test_bad_counts_are_refused_before_any_training(tmp_path, monkeypatch):
    import gantrain.metrics.digits_eval as de
    monkeypatch.setattr(de, "load_digits_classifier", None)    # never reached: refused before
    data = StandIn("stacked_digits", torch.zeros(100, 3, 16, 16, dtype=torch.uint8))
    for kw, key in [({"reference_num_images": 101}, "eval.reference_num_images=101"),
                    ({"mode_min_count": 0}, "eval.mode_min_count=0"),
                    ({"num_samples": 1}, "eval.num_samples=1")]:
        with pytest.raises(ConfigError, match=key):
            DigitsEvaluator(cfg(tmp_path, **kw), data)
    with pytest.raises(ConfigError, match="dataset.name='cifar10'"):
        DigitsEvaluator(cfg(tmp_path), StandIn("cifar10", torch.zeros(4, 3, 16, 16)))
