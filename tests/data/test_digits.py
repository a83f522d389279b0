"""dataset=digits and stacked_digits: the real digits of scikit-learn's wheel, checked against the
raw 8x8 arrays, through the same ImageData path as CIFAR-10; the stacked channels independent and
every one of the 1 000 modes present, as an independent classifier sees them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from gantrain.data import ImageData
from gantrain.data.digits import HELD_OUT, digit_images, stacked_digits
from gantrain.data.schema import DigitsData, StackedDigitsData


def _pil_upsampled(x: np.ndarray) -> np.ndarray:
    """The raw 8x8 digits (0..16) upsampled to 16x16 uint8 by PIL's bilinear resize: an
    implementation independent of torch's interpolate."""
    out = [np.array(Image.fromarray((d.reshape(8, 8) / 16 * 255).astype(np.float32), mode="F")
                    .resize((16, 16), Image.BILINEAR)) for d in x]
    return np.clip(np.round(np.stack(out)), 0, 255)


def test_digits_are_sklearns_digits_split_once():
    x, y = load_digits(return_X_y=True)
    train, ytr = digit_images("train")
    test, yte = digit_images("test")
    assert train.shape == (1797 - HELD_OUT, 1, 16, 16) and test.shape == (HELD_OUT, 1, 16, 16)
    assert train.dtype == torch.uint8 and int(train.max()) == 255 and int(train.min()) == 0
    ours = torch.cat([train, test]).reshape(1797, 256).double().numpy()
    labels = np.concatenate([ytr.numpy(), yte.numpy()])
    ref = _pil_upsampled(x).reshape(1797, 256)
    # every raw digit is found exactly once, with its label, equal up to the rounding of a level
    d = np.abs(ours[:, None, :] - ref[None, :, :]).max(-1)
    nearest = d.argmin(1)
    assert len(set(nearest.tolist())) == 1797
    assert (y[nearest] == labels).all()
    assert d[np.arange(1797), nearest].max() <= 1


def test_digits_through_the_image_data_path():
    data = ImageData(DigitsData(), seed=3, batch_size=64, device="cpu")
    assert data.channels == 1 and data.num_images == 1797 - HELD_OUT
    b = data.batch(5)
    assert b.shape == (64, 1, 16, 16) and float(b.min()) >= -1 and float(b.max()) <= 1
    assert torch.equal(b, ImageData(DigitsData(), seed=3, batch_size=64, device="cpu").batch(5))
    assert not torch.equal(b, data.batch(6))
    train, _ = digit_images("train")
    assert torch.equal(b, train[data.indices(5)].float() / 127.5 - 1)
    assert data.protocol()["channels"] == 1 and "sklearn_digits" in data.protocol()["preprocess"]


@pytest.fixture(scope="module")
def svc():
    """A classifier independent of gantrain's: scikit-learn's logistic regression on the training
    digits' pixels (it fits them all: the stacked images are made of training digits)."""
    x, y = digit_images("train")
    return LogisticRegression(max_iter=3000).fit(x.reshape(len(x), -1).numpy() / 255, y.numpy())


@pytest.mark.slow
def test_stacked_channels_are_independent_and_cover_1000_modes(svc):
    images, labels = stacked_digits(20000, "train", seed=0)
    assert images.shape == (20000, 3, 16, 16)
    pred = svc.predict(images.reshape(-1, 256).numpy() / 255).reshape(-1, 3)
    assert (pred @ np.array([100, 10, 1]) == labels.numpy()).mean() > 0.95   # LR fits ~99% per digit
    # independence: chi-square of every channel pair's 10x10 contingency table
    from scipy.stats import chi2_contingency
    for a, b in ((0, 1), (0, 2), (1, 2)):
        table = np.zeros((10, 10))
        np.add.at(table, (pred[:, a], pred[:, b]), 1)
        assert chi2_contingency(table).pvalue > 1e-3, (a, b)
    full, _ = stacked_digits(50000, "train", seed=0)
    p = svc.predict(full.reshape(-1, 256).numpy() / 255).reshape(-1, 3) @ np.array([100, 10, 1])
    counts = np.bincount(p, minlength=1000)
    assert (counts > 0).sum() == 1000 and counts.min() >= 15   # about 50 each


def test_stacked_digits_through_the_image_data_path():
    data = ImageData(StackedDigitsData(size=500), seed=0, batch_size=8, device="cpu")
    assert data.channels == 3 and data.num_images == 500
    images, _ = stacked_digits(500, "train", seed=0)
    assert torch.equal(data.batch(0), images[data.indices(0)].float() / 127.5 - 1)
    other = ImageData(StackedDigitsData(size=500, draw_seed=1), seed=0, batch_size=8, device="cpu")
    assert not torch.equal(other.batch(0), data.batch(0))


@pytest.mark.parametrize("name", ["digits", "stacked_digits"])
def test_digits_configs_compose(name):
    from tests.helpers import make_cfg
    cfg = make_cfg(f"dataset={name}")
    assert cfg.dataset.name == name and cfg.arch.name == "dcgan3" and cfg.eval.name == "digits"
    assert cfg.loss.name == "standard" and cfg.optim.name == "adam" and cfg.eval.every > 0
    assert cfg.eval.fid is False    # no Inception network: the digits classifier scores
