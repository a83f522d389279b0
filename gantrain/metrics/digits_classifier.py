"""The digits classifier: the yardstick of the digits metrics (issue 31).

A small CNN on one-channel 16x16 digits in [-1, 1] (``DigitsClassifier``): two 3x3 convolutions,
each followed by ReLU and 2x2 average pooling, a dense layer of ``features`` units (ReLU: the
penultimate features of digits-FD) and 10 logits. Its weights ship with gantrain (``WEIGHTS``):
they were trained once by ``write_digits_classifier`` on the train split of ``gantrain.data.digits``
with the recipe of ``defaults.DIGITS_CLASSIFIER_RECIPE`` (fixed seed, one thread, float64 with every
weight rounded to a fixed grid after each step; used in float32, which holds them exactly). Every
machine scores with those bytes, ``defaults.DIGITS_CLASSIFIER_SHA256``, or is refused in one line.
Training them at first use cannot promise that: the recipe gives the same bytes under every kernel
path of one CPU, but other bytes on another CPU vendor (``defaults.DIGITS_CLASSIFIER_TRAINED``).
The file also holds its key (a hash of the training data's bytes, the seed, the recipe and
``DIGITS_CLASSIFIER_VERSION``) and the held-out accuracy; both are checked on every load.

Using it (``gantrain.metrics.digits_predict``): stacked images (``[B, 3, R, R]``, one digit per
channel) are classified channel by channel: the mode is ``100 c0 + 10 c1 + c2`` and the features
are the three channels' features concatenated. Generated images are first rounded to 8-bit levels
(``defaults.QUANTIZE``), as the Inception protocol does, so that a score is a function of the
images one would save.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gantrain.checkpoint import atomic_write_bytes
from gantrain.data.digits import digit_images
from gantrain.errors import ConfigError
from gantrain.metrics import defaults

NUM_CLASSES = 10
RESOLUTION = 16
FILE_PREFIX = "digits_classifier"
CHUNK = 1024   # digits per forward pass: small batches cost ~3x more in per-call overhead
# The weights every machine scores with, trained once by write_digits_classifier and shipped
# with the package (the recipe gives other bytes on other CPU vendors: docs/results/digits.md)
WEIGHTS = Path(__file__).with_name("digits_classifier.pt")


class DigitsClassifier(nn.Module):
    """The CNN (module docstring) on ``[B, 1, 16, 16]`` images in [-1, 1].

    Args:
        conv_channels: the two convolutions' output channels (None: the recipe's).
        features: the width of the penultimate layer (None: the recipe's).
    """

    def __init__(self, conv_channels: Optional[Sequence[int]] = None, features: Optional[int] = None):
        super().__init__()
        recipe = defaults.DIGITS_CLASSIFIER_RECIPE
        c1, c2 = recipe["conv_channels"] if conv_channels is None else conv_channels
        features = recipe["features"] if features is None else features
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.dense = nn.Linear(c2 * (RESOLUTION // 4) ** 2, features)
        self.logits = nn.Linear(features, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features [B, features] of images [B, 1, 16, 16]."""
        # Average, not max, pooling: the blank background gives exact ties, which CPU kernels
        # break differently (the scalar path routes max_pool2d's gradient elsewhere than AVX2's).
        x = F.avg_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.dense(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The 10 logits [B, 10] of images [B, 1, 16, 16]."""
        return self.logits(self.features(x))


# --- hashes and the cache key -----------------------------------------------------------------
def weights_sha256(state_dict: dict) -> str:
    """SHA-256 of a state_dict: every entry's name, dtype, shape and bytes, in key order.

    Args:
        state_dict: the classifier's weights.

    Returns:
        64 hex digits.
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _train_data() -> tuple[torch.Tensor, torch.Tensor, str]:
    images, labels = digit_images("train")   # ConfigError without scikit-learn
    h = hashlib.sha256(images.numpy().tobytes())
    h.update(labels.numpy().tobytes())
    return images, labels, h.hexdigest()


def _key_dict(data_sha256: str) -> dict:
    return {"version": defaults.DIGITS_CLASSIFIER_VERSION, "seed": defaults.DIGITS_CLASSIFIER_SEED,
            "recipe": defaults.DIGITS_CLASSIFIER_RECIPE, "data_sha256": data_sha256}


def _key(key_dict: dict) -> str:
    return hashlib.sha256(json.dumps(key_dict, sort_keys=True).encode()).hexdigest()


# --- training ---------------------------------------------------------------------------------
@contextmanager
def _threads(n: int) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside, the caller's thread count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _shift(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random offset in -s..s per axis, background (-1) filled in."""
    if s == 0:
        return x
    b, r = x.shape[0], x.shape[-1]
    padded = F.pad(x, (s, s, s, s), value=-1.0)
    d = torch.randint(0, 2 * s + 1, (b, 2), generator=g)
    ar = torch.arange(r)
    rows, cols = d[:, :1] + ar, d[:, 1:] + ar
    return padded[torch.arange(b)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def to_unit(images: torch.Tensor, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images -> [-1, 1] as ``gantrain.data.images.to_unit_range`` (x / 127.5 - 1)."""
    return images.to(device).to(dtype) / 127.5 - 1


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        pred = model(to_unit(images, next(model.parameters()).dtype)).argmax(1)
    return float((pred == labels).double().mean())


def train_digits_classifier(images: torch.Tensor, labels: torch.Tensor,
                            recipe: Optional[dict] = None, seed: Optional[int] = None
                            ) -> DigitsClassifier:
    """Train the classifier deterministically (on the CPU, ``recipe["threads"]`` threads).

    Args:
        images: uint8 [N, 1, 16, 16] training digits.
        labels: int64 [N] in 0..9.
        recipe: the recipe (None: ``defaults.DIGITS_CLASSIFIER_RECIPE``).
        seed: seeds the initialisation, the batches and the shifts (None: the default seed).

    Returns:
        The trained classifier, in eval mode, on the CPU.
    """
    recipe = defaults.DIGITS_CLASSIFIER_RECIPE if recipe is None else recipe
    seed = defaults.DIGITS_CLASSIFIER_SEED if seed is None else seed
    dtype = getattr(torch, recipe["dtype"])
    x, y = to_unit(images.cpu(), dtype), labels.cpu()
    with _threads(recipe["threads"]), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)   # the initialisation; the caller's global RNG is left as it was
        model = DigitsClassifier(recipe["conv_channels"], recipe["features"]).to(dtype)
        _init(model, seed)
        g = torch.Generator().manual_seed(seed)
        bs, n = recipe["batch_size"], len(x)
        opt = torch.optim.Adam(model.parameters(), lr=recipe["max_lr"])
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=recipe["max_lr"], pct_start=recipe["pct_start"],
            total_steps=recipe["epochs"] * -(-n // bs))
        model.train()
        for _ in range(recipe["epochs"]):
            order = torch.randperm(n, generator=g)
            for i in range(0, n, bs):
                idx = order[i:i + bs]
                loss = F.cross_entropy(model(_shift(x[idx], recipe["shift"], g)), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                _snap(model, recipe["snap"])
    return model.float().eval()   # exact: every weight is a multiple of 2^-18 well inside float32


@torch.no_grad()
def _init(model: nn.Module, seed: int) -> None:
    """PyTorch's default initialisation (uniform in +-1/sqrt(fan_in), weights and biases), drawn
    with numpy's PCG64: torch's ``uniform_`` rounds differently on different CPU kernel paths."""
    rng = np.random.default_rng(seed)
    for layer in (m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))):
        bound = 1.0 / math.sqrt(layer.weight[0].numel())
        for p in (layer.weight, layer.bias):
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, tuple(p.shape))))


@torch.no_grad()
def _snap(model: nn.Module, grid: float) -> None:
    """Round every weight to a multiple of ``grid``. Kernels of other CPUs (AVX2, AVX-512, the
    scalar path) change a float64 step by ~1e-16, far below the grid: the rounding removes it, so
    training gives the same weights bit for bit on every machine (a step landing within 1e-16 of a
    rounding boundary, the only exception, is vanishingly rare)."""
    for p in model.parameters():
        p.copy_(torch.round(p / grid) * grid)


# --- the shipped weights -------------------------------------------------------------------
def classifier_key() -> tuple[dict, str]:
    """What the weights depend on and its hash: the training data's bytes, the seed, the recipe and
    ``DIGITS_CLASSIFIER_VERSION``.

    Returns:
        (the key's parts, its SHA-256).
    Raises:
        ConfigError: scikit-learn is missing (one line).
    """
    key_dict = _key_dict(_train_data()[2])
    return key_dict, _key(key_dict)


def _refuse(path: Path, what: str) -> ConfigError:
    return ConfigError(f"digits classifier weights {path} {what}: reinstall gantrain, or write "
                       f"them again with `python -m gantrain.metrics.digits_classifier`")


def _read(path: Path, key: str) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        state, info = payload["state_dict"], payload["info"]
    except Exception as e:   # missing, truncated, foreign or not a torch file at all
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise _refuse(path, f"cannot be read ({msg})") from None
    if info.get("key") != key:
        raise _refuse(path, f"have key {info.get('key')!r}, but this data, seed and recipe give "
                      f"{key}") from None
    actual = weights_sha256(state)
    if actual != info.get("weights_sha256"):
        raise _refuse(path, f"have sha256 {actual}, but their recorded sha256 is "
                      f"{info.get('weights_sha256')}")
    return payload


def load_digits_classifier(device: torch.device | str = "cpu", path: Optional[str | Path] = None
                           ) -> tuple[DigitsClassifier, dict]:
    """The digits classifier, as shipped with gantrain (``WEIGHTS``): never trained at run time.

    Args:
        device: where the returned model lives.
        path: a weights file written by ``write_digits_classifier`` (None: ``WEIGHTS``).

    Returns:
        (the model in eval mode, info): info holds ``key``, ``weights_sha256``,
        ``held_out_accuracy``, ``recipe``, ``seed``, ``version``, ``data_sha256``, ``trained_on``
        and ``path``.

    Raises:
        ConfigError: one line, when the file cannot be read, does not match this data, seed and
            recipe, or holds other weights than its recorded hash or the pinned
            ``defaults.DIGITS_CLASSIFIER_SHA256``; when scikit-learn is missing.
    """
    path = WEIGHTS if path is None else Path(path)
    payload = _read(path, classifier_key()[1])
    info = dict(payload["info"], path=str(path))
    _check_reference(info["weights_sha256"])
    recipe = defaults.DIGITS_CLASSIFIER_RECIPE
    model = DigitsClassifier(recipe["conv_channels"], recipe["features"])
    model.load_state_dict(payload["state_dict"])
    return model.eval().to(device), info


def write_digits_classifier(path: str | Path) -> dict:
    """Train the classifier with the default recipe and seed, check its held-out accuracy and
    write it (atomically) as ``load_digits_classifier`` reads it.

    Args:
        path: the file to write.

    Returns:
        its info (``load_digits_classifier``'s, without ``path``; with ``train_seconds``).

    Raises:
        ConfigError: one line, when the held-out accuracy falls short of
            ``defaults.DIGITS_MIN_ACCURACY`` (nothing is written).
    """
    images, labels, data_sha = _train_data()
    key_dict = _key_dict(data_sha)
    start = time.perf_counter()
    model = train_digits_classifier(images, labels)
    seconds = time.perf_counter() - start
    accuracy = _accuracy(model, *digit_images("test"))
    if accuracy < defaults.DIGITS_MIN_ACCURACY:
        raise ConfigError(f"the digits classifier reached a held-out accuracy of {accuracy:.4f}, "
                          f"below {defaults.DIGITS_MIN_ACCURACY}: its recipe "
                          "(defaults.DIGITS_CLASSIFIER_RECIPE) must change")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    info = {**key_dict, "key": _key(key_dict), "weights_sha256": weights_sha256(state),
            "held_out_accuracy": accuracy, "train_seconds": seconds,
            "trained_on": f"{_cpu_name()}, torch {torch.__version__}"}
    buf = io.BytesIO()
    torch.save({"state_dict": state, "info": info}, buf)
    atomic_write_bytes(Path(path), lambda f: f.write(buf.getvalue()))
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _check_reference(sha: str) -> None:
    """Every machine scores with the same weights, or the run stops here."""
    ref = defaults.DIGITS_CLASSIFIER_SHA256
    if ref and sha != ref:
        raise ConfigError(f"the digits classifier's weights have sha256 {sha[:16]}, not the "
                          f"reference {ref[:16]} that every machine uses: their scores would not "
                          f"compare with others' (set defaults.DIGITS_CLASSIFIER_SHA256 = None to "
                          f"score with them anyway)")


if __name__ == "__main__":   # python -m gantrain.metrics.digits_classifier [PATH]
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else str(WEIGHTS)
    written = write_digits_classifier(out)
    print(f"{out}: sha256 {written['weights_sha256']}, held out {written['held_out_accuracy']:.4f}, "
          f"{written['train_seconds']:.1f} s on {written['trained_on']}")
