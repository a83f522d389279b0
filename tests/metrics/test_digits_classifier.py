"""The digits classifier (gantrain.metrics.digits_classifier): the shipped weights, their held-out
accuracy, their mode assignment against an independent classifier (scikit-learn's SVC on the raw
pixels of the same train split), the refusals of a bad weights file, and the recipe retrained here
(the same bytes under every kernel path, one of the measured ones)."""
from __future__ import annotations

import builtins
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.svm import SVC

import gantrain.data.digits as digits_data
import gantrain.metrics.digits_classifier as dc
import gantrain.metrics.digits_predict as dp
from gantrain.data.digits import digit_images, stacked_digits
from gantrain.errors import ConfigError
from gantrain.metrics import defaults
from gantrain.metrics.mode_histogram import histogram, mode_kl, modes_covered


@pytest.fixture(scope="module")
def trained():
    """(model, info): the shipped classifier, as every run loads it."""
    return dc.load_digits_classifier()


@pytest.fixture(scope="module")
def svc():
    """An independent classifier: an RBF SVC on the train split's raw pixels (~98% held out)."""
    x, y = digit_images("train")
    return SVC().fit(x.reshape(len(x), -1).numpy() / 255.0, y.numpy())


def svc_modes(svc, images: torch.Tensor) -> np.ndarray:
    """The SVC's mode of each image, channel by channel: sum_c digit_c 10^(C-1-c)."""
    b, c = images.shape[:2]
    d = svc.predict(images.reshape(b * c, -1).numpy() / 255.0).reshape(b, c)
    return (d * 10 ** np.arange(c - 1, -1, -1)).sum(1)


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def test_held_out_accuracy_of_the_shipped_weights(trained):
    model, info = trained
    x, y = digit_images("test")
    # recomputed here from the held-out split, not taken from the recorded number
    acc = float((dp.classify(model, x) == y).double().mean())
    assert acc >= defaults.DIGITS_MIN_ACCURACY
    assert acc == pytest.approx(info["held_out_accuracy"])
    assert info["recipe"] == defaults.DIGITS_CLASSIFIER_RECIPE and info["path"] == str(dc.WEIGHTS)
    assert info["weights_sha256"] == defaults.DIGITS_CLASSIFIER_SHA256
    assert dc.weights_sha256(model.state_dict()) == defaults.DIGITS_CLASSIFIER_SHA256
    # the network itself takes [-1, 1] (x / 127.5 - 1, as ImageData gives), whatever the helpers
    # do: its logits on those floats give the same modes as classify on the uint8 images
    with torch.no_grad():
        direct = model(x.float() / 127.5 - 1).argmax(1)
    assert torch.equal(direct, dp.classify(model, x))
    assert torch.equal(dp.classify(model, x.float() / 127.5 - 1, quantize=None), direct)


@pytest.mark.slow
def test_modes_agree_with_svc_on_held_out_digits(trained, svc):
    """Two classifiers at ~98-99% held out disagree on at most err1 + err2 of the digits (about
    1% + 2% here), so: agreement >= 96%, and the two 10-bin histograms, whose total variation
    distance is at most the disagreement, within 4% of the 300 digits (12 samples)."""
    model = trained[0]
    x, y = digit_images("test")
    ours, theirs = dp.classify(model, x).numpy(), svc_modes(svc, x)
    assert (theirs == y.numpy()).mean() >= 0.96       # the yardstick's yardstick is itself good
    assert (ours == theirs).mean() >= 0.96
    h1, h2 = histogram(ours, 10), histogram(theirs, 10)
    assert np.abs(h1 - h2).sum() / 2 <= 0.04 * len(x)
    assert modes_covered(h1) == modes_covered(h2) == 10


@pytest.mark.slow
def test_modes_agree_with_svc_on_stacked_held_out_digits(trained, svc):
    """3 000 triples of held-out digits over 1 000 modes. A triple is labelled alike when its three
    digits are, so per-digit disagreement d gives about 3d (~6%) of triples: agreement >= 90%,
    the 1 000-bin histograms' total variation <= 10% of the samples. A moved sample changes the
    modes covered by at most 1 and the moves mostly cancel (measured: 3 apart): the counts within
    20 (2% of the modes) of each other and of the true labels' count, the KLs within 0.03."""
    model = trained[0]
    x, y = stacked_digits(3000, "test", seed=1)
    ours, theirs = dp.classify(model, x).numpy(), svc_modes(svc, x)
    assert (ours == theirs).mean() >= 0.90
    h1, h2, truth = histogram(ours, 1000), histogram(theirs, 1000), histogram(y.numpy(), 1000)
    assert np.abs(h1 - h2).sum() / 2 <= 0.10 * len(x)
    assert abs(modes_covered(h1) - modes_covered(h2)) <= 20
    assert abs(modes_covered(h1) - modes_covered(truth)) <= 20
    assert abs(mode_kl(h1) - mode_kl(h2)) <= 0.03
    # the features of a stacked image are its channels' features side by side
    f, width = dp.features(model, x[:5]), defaults.DIGITS_CLASSIFIER_RECIPE["features"]
    assert f.shape == (5, 3 * width)
    torch.testing.assert_close(f[:, width:2 * width], dp.features(model, x[:5, 1:2]), rtol=0, atol=0)


def test_loading_never_trains(trained, monkeypatch):
    monkeypatch.setattr(dc, "train_digits_classifier", None)   # any training would fail
    again, info = dc.load_digits_classifier()
    for k, v in trained[0].state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def _write_weights(path, **changes):
    """A weights file as write_digits_classifier writes it, with untrained weights (no training)."""
    key_dict, key = dc.classifier_key()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state = dc.DigitsClassifier().state_dict()
    info = {**key_dict, "key": key, "weights_sha256": dc.weights_sha256(state),
            "held_out_accuracy": 0.1, **changes}
    torch.save({"state_dict": state, "info": info}, path)
    return state, info


def test_a_weights_file_is_read_and_checked(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    state, info = _write_weights(path)
    monkeypatch.setattr(defaults, "DIGITS_CLASSIFIER_SHA256", info["weights_sha256"])
    model, got = dc.load_digits_classifier(path=path)
    assert got["weights_sha256"] == info["weights_sha256"] and got["path"] == str(path)
    assert torch.equal(model.state_dict()["dense.weight"], state["dense.weight"])


def test_tampered_weights_are_refused_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    state, info = _write_weights(path)
    monkeypatch.setattr(defaults, "DIGITS_CLASSIFIER_SHA256", info["weights_sha256"])
    state["conv1.bias"][0] += 1e-3                  # one weight changed, its recorded hash kept
    torch.save({"state_dict": state, "info": info}, path)
    with pytest.raises(ConfigError) as e:
        dc.load_digits_classifier(path=path)
    msg = one_line(e)
    assert str(path) in msg and info["weights_sha256"] in msg
    assert dc.weights_sha256(state) in msg and "reinstall" in msg


def test_weights_of_another_key_garbage_or_none_are_refused(tmp_path):
    path = tmp_path / "w.pt"
    _write_weights(path, key="0" * 64)
    with pytest.raises(ConfigError) as e:
        dc.load_digits_classifier(path=path)
    assert str(path) in one_line(e) and "0" * 64 in one_line(e) and "reinstall" in one_line(e)
    path.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError) as e:
        dc.load_digits_classifier(path=path)
    assert str(path) in one_line(e) and "cannot be read" in one_line(e)
    with pytest.raises(ConfigError) as e:
        dc.load_digits_classifier(path=tmp_path / "absent.pt")
    assert "absent.pt cannot be read" in one_line(e)


def test_the_key_names_data_seed_recipe_and_version(monkeypatch):
    first = dc.classifier_key()[1]
    monkeypatch.setattr(defaults, "DIGITS_CLASSIFIER_RECIPE",
                        {**defaults.DIGITS_CLASSIFIER_RECIPE, "epochs": 29})
    second = dc.classifier_key()[1]
    monkeypatch.setattr(defaults, "DIGITS_CLASSIFIER_SEED", 1)
    third = dc.classifier_key()[1]
    monkeypatch.setattr(defaults, "DIGITS_CLASSIFIER_VERSION", defaults.DIGITS_CLASSIFIER_VERSION + 1)
    assert len({first, second, third, dc.classifier_key()[1]}) == 4
    assert dc.classifier_key()[0]["data_sha256"] == dc._train_data()[2]


def test_missing_scikit_learn_is_one_line(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    digits_data._all_digits.cache_clear()   # the digits were loaded (and cached) by earlier tests
    try:
        with pytest.raises(ConfigError) as e:
            dc.load_digits_classifier()
    finally:
        digits_data._all_digits.cache_clear()
    assert "scikit-learn" in one_line(e) and "pip install scikit-learn" in one_line(e)


def test_bad_image_shapes_are_refused():
    model = dc.DigitsClassifier()
    for shape in [(2, 2, 16, 16), (2, 1, 8, 8), (16, 16)]:
        with pytest.raises(ValueError, match="expected images"):
            dp.classify(model, torch.zeros(shape))


@pytest.mark.slow
def test_the_recipe_trains_the_same_measured_weights_on_every_kernel_path(tmp_path):
    """Retrained here (about 10 s, the caller at 2 threads, which training on one must give back),
    natively and under the scalar kernel path (ATEN_CPU_CAPABILITY=default, where torch's
    uniform_ and max_pool2d behave otherwise) in a fresh process: the same bytes, one of the
    hashes measured on the two CPU vendors, and a held-out accuracy of at least 97%."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        info = dc.write_digits_classifier(tmp_path / "w.pt")
        threads_after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert threads_after == 2
    assert info["weights_sha256"] in defaults.DIGITS_CLASSIFIER_TRAINED
    assert info["held_out_accuracy"] >= defaults.DIGITS_MIN_ACCURACY
    code = ("from gantrain.data.digits import digit_images as d;"
            "import gantrain.metrics.digits_classifier as c;"
            "print(c.weights_sha256(c.train_digits_classifier(*d('train')).state_dict()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"ATEN_CPU_CAPABILITY": "default", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == info["weights_sha256"]


def test_other_weights_than_the_reference_are_refused_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    _write_weights(path)          # a well-formed file, untrained weights
    with pytest.raises(ConfigError) as e:
        dc.load_digits_classifier(path=path)
    msg = one_line(e)
    assert f"not the reference {defaults.DIGITS_CLASSIFIER_SHA256[:16]}" in msg and "sha256" in msg


def test_a_written_file_below_the_accuracy_floor_is_not_written(tmp_path, monkeypatch):
    monkeypatch.setattr(dc, "train_digits_classifier", lambda x, y: dc.DigitsClassifier().eval())
    with pytest.raises(ConfigError, match="held-out accuracy of 0.[0-9]+, below 0.97"):
        dc.write_digits_classifier(tmp_path / "w.pt")
    assert not list(tmp_path.iterdir())
