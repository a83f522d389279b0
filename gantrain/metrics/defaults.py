"""Every default of the image metrics (docs/experiments.md §E) in one place, and the ``eval`` schema.

The Inception network is pytorch-fid's port of the 2015-12-05 TensorFlow graph. Its weights are
never downloaded: they are read from ``$TORCH_HOME/hub/checkpoints/`` (``weights_path()`` in
``gantrain.metrics.inception``); without them the image metrics are reported as missing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from gantrain.checks import check

# --- Inception network ----------------------------------------------------------------------
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
# Where pytorch-fid downloads it from (named in the "weights missing" message only).
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               + WEIGHTS_FILE)
RESIZE = 299                 # images are resized to RESIZE x RESIZE ...
RESIZE_MODE = "bilinear"     # ... with F.interpolate(mode="bilinear", align_corners=False)
# Generated and reference images are rounded to 8-bit levels before the network, as if saved to
# PNG (pytorch-fid's file-based path; torch-fidelity's uint8 input). None: no rounding.
QUANTIZE: Optional[str] = "uint8"
FEATURE_DIM = 2048           # pool3
NUM_CLASSES = 1008           # the TF graph's softmax
# IS logits: "unbiased" = pool3 @ fc.weight.T, as the reference TF code (openai/improved-gan,
# inception_score.py: matmul with the softmax/logits/MatMul weight) and torch-fidelity do;
# "biased" = the full fc layer.
IS_LOGITS = "unbiased"

# --- protocol defaults ----------------------------------------------------------------------
SPLITS = 10                  # Inception score: mean ± std over this many chunks
BATCH_SIZE = 50              # images per Inception forward pass (pytorch-fid's default)
MIN_FID_SAMPLES = 2048       # fewer samples than the feature dimension: a rank-deficient covariance
EVERY = 0                    # evaluate every K steps, 0: off (docs/experiments.md §C runs use 5000)
# FID: "eigh" computes Tr sqrt(S1 S2) as sum(sqrt(eig(sqrt(S1) S2 sqrt(S1)))) with symmetric
# eigendecompositions (same quantity, ~5x faster than scipy's sqrtm on CPU at 2048-d, no complex
# round-off); "sqrtm" calls pytorch-fid's calculate_frechet_distance unchanged.
FID_METHOD = "eigh"

# Named protocols (config group ``eval``: ``default`` is ImageEvalSchema's defaults, ``numerics``
# conf/eval/numerics.yaml); the name is logged with every score. "numerics": the Numerics of
# GANs' Inception score (6400 samples, 10 splits, no FID); "digits": conf/eval/digits.yaml, the digits
# classifier's metrics (gantrain/metrics/digits_eval.py).
PROTOCOLS = ("default", "numerics", "digits")
NUMERICS_NUM_SAMPLES = 6400

# --- digits protocol (gantrain/metrics/digits_eval.py; conf/eval/digits.yaml) ------------------
DIGITS_NUM_SAMPLES = 10000   # generated samples per evaluation
MODE_MIN_COUNT = 1           # a mode is covered by >= this many samples (VEEGAN, PacGAN count 1)
# The digits classifier (gantrain/metrics/digits_classifier.py), trained once on the train split
# and shipped; all of this is part of its key. Bump the version when its meaning changes.
DIGITS_CLASSIFIER_VERSION = 2
DIGITS_CLASSIFIER_SEED = 0
DIGITS_CLASSIFIER_RECIPE = {
    "conv_channels": [16, 32],   # 3x3 convolutions (padding 1), each followed by ReLU and 2x2 average pooling
    "features": 64,              # the penultimate dense layer (ReLU): digits-FD's feature space
    "dtype": "float64",          # with "snap": the same weights on every CPU (see _snap)
    "snap": 2.0 ** -18,          # every weight rounded to a multiple of this after each step
    "threads": 1,
    "epochs": 30,
    "batch_size": 64,            # a fresh permutation of the train split per epoch
    "optimizer": "adam",
    "max_lr": 3e-3,              # torch.optim.lr_scheduler.OneCycleLR, its other settings default
    "pct_start": 0.3,
    "shift": 2,                  # augmentation: each image shifted by -2..2 pixels per axis
}
DIGITS_MIN_ACCURACY = 0.97   # on the held-out split, or the classifier is refused
# The shipped weights (gantrain/metrics/digits_classifier.pt), the only ones scored with: a file
# holding others is refused, since its scores would not compare with anyone else's.
DIGITS_CLASSIFIER_SHA256 = "ee67a14e27494e401ca3329398e0820dd3c2c574655cc99041ea87fac8a58f8f"
# What the recipe above trains, measured: the same bytes under ATEN_CPU_CAPABILITY=default, avx2 and
# avx512 on each CPU, but not the same bytes on both vendors (hence shipped weights).
DIGITS_CLASSIFIER_TRAINED = {
    "ee67a14e27494e401ca3329398e0820dd3c2c574655cc99041ea87fac8a58f8f": "Intel Xeon (shipped)",
    "b4d7bc3be62586b29e12c02d0051b5cf4d40520108f94978ebe6c5cf4d5c58eb": "AMD EPYC",
}

# --- reference statistics cache -------------------------------------------------------------
CACHE_ENV = "GANTRAIN_CACHE"
CACHE_VERSION = 1            # bump when the meaning of a cached file changes


def default_cache_dir() -> Path:
    """Returns:
        ``$GANTRAIN_CACHE`` when set, else ``~/.cache/gantrain/fid_stats``.
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gantrain" / "fid_stats"


@dataclass
class ImageEvalSchema:
    """The ``eval`` section: the mixture-of-Gaussians keys of the existing ``Eval`` schema (same
    names, defaults and checks) plus the image-metric keys. Checks that depend on the dataset
    (FID needs ``MIN_FID_SAMPLES``) run in ``ImageEvaluator``, so MoG runs are unaffected."""
    name: str = "default"            # the protocol's name (PROTOCOLS), logged with every score
    # shared / mixture of Gaussians
    num_samples: int = 2560          # generated samples per evaluation (IS uses all of them)
    seed: int = 1234
    std_multiple: float = 3.0        # "high quality": within this many mode std of the nearest mode
    mode_min_share: float = 0.01     # a mode is covered when it holds at least this share of all samples
    image_steps: list[int] = field(default_factory=lambda: [0])   # scatter/KDE images then and at the end
    # images: Inception score and FID
    every: int = EVERY               # evaluate IS/FID every K steps (0: off)
    fid_num_samples: Optional[int] = None       # FID on the first this many samples (null: all)
    reference_num_images: Optional[int] = None  # real images for the FID statistics (null: as
                                                # many as FID's generated samples)
    batch_size: int = BATCH_SIZE
    splits: int = SPLITS
    force_fid: bool = False          # allow FID on fewer than MIN_FID_SAMPLES images
    cache_dir: Optional[str] = None  # reference statistics (null: $GANTRAIN_CACHE or
                                     # ~/.cache/gantrain/fid_stats)
    fid: bool = True                 # false: Inception score only (no FID, no reference images)
    mode_min_count: int = MODE_MIN_COUNT   # digits: a mode is covered by >= this many samples

    def __post_init__(self):
        check(self.name in PROTOCOLS, "eval.name", self.name,
               f"allowed: {', '.join(PROTOCOLS)} (eval=<name> selects one)")
        check(self.num_samples >= 1, "eval.num_samples", self.num_samples, "must be >= 1")
        check(self.std_multiple > 0, "eval.std_multiple", self.std_multiple, "must be > 0")
        check(0 <= self.mode_min_share <= 1, "eval.mode_min_share", self.mode_min_share,
               "must be in [0, 1]")
        # A negative step never fires, silently; a step is an index into the run.
        for i, s in enumerate(self.image_steps):
            check(isinstance(s, int) and not isinstance(s, bool) and s >= 0,
                  f"eval.image_steps[{i}]", s, "must be an integer step >= 0")
        check(self.every >= 0, "eval.every", self.every, "must be >= 0 (0: off)")
        check(isinstance(self.mode_min_count, int) and not isinstance(self.mode_min_count, bool)
              and self.mode_min_count >= 1, "eval.mode_min_count", self.mode_min_count,
              "must be an integer >= 1")
        check(self.fid_num_samples is None or 2 <= self.fid_num_samples <= self.num_samples,
               "eval.fid_num_samples", self.fid_num_samples,
               "must be null or in [2, eval.num_samples]")
        check(self.reference_num_images is None or self.reference_num_images >= 2,
               "eval.reference_num_images", self.reference_num_images, "must be null or >= 2")
        check(self.batch_size >= 1, "eval.batch_size", self.batch_size, "must be >= 1")
        check(self.splits >= 1, "eval.splits", self.splits, "must be >= 1")
        check(self.splits <= self.num_samples, "eval.splits", self.splits,
               f"must be <= eval.num_samples={self.num_samples}")
        # Refuse a biased FID before any work, not at the first evaluation.
        fid_n = self.fid_num_samples or self.num_samples
        check(self.every == 0 or not self.fid or self.force_fid or fid_n >= MIN_FID_SAMPLES,
               "eval.fid_num_samples" if self.fid_num_samples else "eval.num_samples", fid_n,
               f"FID needs at least {MIN_FID_SAMPLES} samples (eval.force_fid=true allows fewer)")
