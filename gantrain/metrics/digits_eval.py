"""The digits protocol: modes covered, mode KL, digits-FD and the classifier score (issue 31).

``DigitsEvaluator(eval_cfg, data, device)`` has the interface of
``gantrain.metrics.evaluator.ImageEvaluator`` as the image game uses it (``missing``, ``shard``,
``evaluate(sample_fn, num_samples)``), for ``dataset=digits`` (one channel, 10 modes) and
``dataset=stacked_digits`` (three channels, 1 000 modes). The digits classifier is loaded (its shipped
weights) at construction, so that a bad weights file or a missing scikit-learn stops the run before
any training. Each evaluation:
- rounds the ``eval.num_samples`` generated images to 8-bit levels (what is scored, kept as
  ``last_samples``);
- classifies every channel; the mode histogram (``last_histogram``) gives ``modes_covered``
  (modes with at least ``eval.mode_min_count`` samples) and ``mode_kl``;
- digits-FD against the features of ``eval.reference_num_images`` real images of the run's
  dataset (null: as many as generated samples, at most all of them), computed once per evaluator;
- on ``digits``, the classifier's Inception score over ``eval.splits`` chunks of its 10 logits
  (``gantrain.metrics.inception_score``); None on ``stacked_digits``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch

from gantrain.errors import ConfigError
from gantrain.metrics import defaults
from gantrain.metrics.digits_classifier import RESOLUTION, load_digits_classifier
from gantrain.metrics.digits_fd import digits_fd, digits_feature_stats
from gantrain.metrics.digits_predict import modes_of, predict, to_uint8
from gantrain.metrics.inception_score import inception_score
from gantrain.metrics.mode_histogram import mode_scores

# dataset name -> (channels, modes)
DATASETS = {"digits": (1, 10), "stacked_digits": (3, 1000)}
PROTOCOL = "digits"


def _get(cfg: Any, key: str, default: Any) -> Any:
    value = cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)
    return default if value is None else value


class DigitsEvaluator:
    """The digits metrics of a generator's samples (module docstring).

    Args:
        eval_cfg: the ``eval`` section (a DictConfig, dict or ImageEvalSchema).
        data: the run's ``ImageData`` (``name``, ``channels``, ``num_images``,
            ``reference_images(n, batch_size)``, ``protocol()``).
        device: where the classifier runs.
    """

    def __init__(self, eval_cfg: Any, data: Any, device: torch.device | str = "cpu"):
        if data.name not in DATASETS:
            raise ConfigError(f"dataset.name={data.name!r} is invalid for the digits metrics: "
                              f"allowed: {', '.join(DATASETS)}")
        self.channels, self.num_modes = DATASETS[data.name]
        if int(data.channels) != self.channels:
            raise ValueError(f"dataset {data.name} has {data.channels} channels, expected "
                             f"{self.channels}")
        self.num_samples = int(_get(eval_cfg, "num_samples", defaults.DIGITS_NUM_SAMPLES))
        self.batch_size = int(_get(eval_cfg, "batch_size", defaults.BATCH_SIZE))
        self.splits = int(_get(eval_cfg, "splits", defaults.SPLITS))
        self.min_count = _get(eval_cfg, "mode_min_count", defaults.MODE_MIN_COUNT)
        self.reference_num_images: Optional[int] = _get(eval_cfg, "reference_num_images", None)
        self.name = str(_get(eval_cfg, "name", PROTOCOL))
        self.data, self.device = data, torch.device(device)
        self.data_protocol = dict(data.protocol())
        self.available = int(getattr(data, "num_images", None) or self.data_protocol["num_images"])
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise ConfigError(f"eval.mode_min_count={self.min_count!r} is invalid: must be an "
                              "integer >= 1")
        self.counts(self.num_samples)   # ConfigError now rather than at the first evaluation
        self.model, self.classifier = load_digits_classifier(self.device)
        self.missing: Optional[str] = None   # nothing is ever missing: the classifier ships
        self.shard = None                    # no sharded evaluation: the counts are small
        self._reference: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.last_samples: Optional[np.ndarray] = None
        self.last_histogram: Optional[np.ndarray] = None

    def counts(self, num_samples: int) -> int:
        """The number of reference images; ConfigError (one line, naming the key) when the counts
        cannot be scored.

        Args:
            num_samples: the generated images of one evaluation.

        Returns:
            The reference images of digits-FD.
        """
        if num_samples < 2:
            raise ConfigError(f"eval.num_samples={num_samples!r} is invalid: digits-FD needs >= 2")
        if self.channels == 1 and num_samples < self.splits:
            raise ConfigError(f"eval.splits={self.splits!r} is invalid: must be <= "
                              f"eval.num_samples={num_samples}")
        if self.reference_num_images is None:
            return min(num_samples, self.available)
        if not 2 <= self.reference_num_images <= self.available:
            raise ConfigError(f"eval.reference_num_images={self.reference_num_images!r} is invalid: "
                              f"must be in [2, {self.available}] (the {self.data_protocol.get('split')} "
                              f"split of {self.data.name})")
        return int(self.reference_num_images)

    def protocol(self, num_samples: Optional[int] = None) -> dict:
        """Everything that changes a number, recorded with every score.

        Args:
            num_samples: the generated images (None: ``eval.num_samples``).

        Returns:
            The protocol's name, sample and mode counts, quantisation, classifier and reference
            images.
        """
        n = self.num_samples if num_samples is None else num_samples
        c = self.classifier
        proto = {"protocol": PROTOCOL, "eval_name": self.name, "num_samples": n,
                 "num_modes": self.num_modes, "mode_min_count": self.min_count,
                 "quantize": defaults.QUANTIZE,
                 "splits": self.splits if self.channels == 1 else None,
                 "classifier_key": c["key"][:16], "classifier_weights_sha256": c["weights_sha256"][:16],
                 "classifier_held_out_accuracy": c["held_out_accuracy"],
                 "classifier_version": c["version"], "classifier_seed": c["seed"],
                 "fd_method": defaults.FID_METHOD}
        for k, v in self.data_protocol.items():
            k = "dataset_num_images" if k == "num_images" else k
            proto[k if k.startswith("reference_") else f"reference_{k}"] = v
        proto["reference_num_images"] = self.counts(n)
        return proto

    def _reference_stats(self, n_ref: int) -> tuple[np.ndarray, np.ndarray]:
        if n_ref not in self._reference:
            self._reference[n_ref] = digits_feature_stats(
                self.model, self.data.reference_images(n_ref, self.batch_size), limit=n_ref)
        return self._reference[n_ref]

    def evaluate(self, sample_fn: Callable[[int], torch.Tensor],
                 num_samples: Optional[int] = None) -> dict:
        """Score the generator.

        Args:
            sample_fn: ``sample_fn(n)`` returns n images [n, C, 16, 16] in [-1, 1].
            num_samples: how many images (None: ``eval.num_samples``).

        Returns:
            {"modes_covered", "mode_kl", "digits_fd", "classifier_score", "classifier_score_std",
            "protocol"}; the classifier score is None on stacked digits.
        """
        n = self.num_samples if num_samples is None else int(num_samples)
        proto = self.protocol(n)
        samples, done = [], 0
        while done < n:
            b = min(self.batch_size, n - done)
            with torch.no_grad():
                images = sample_fn(b)
            expected = (b, self.channels, RESOLUTION, RESOLUTION)
            if tuple(images.shape) != expected:
                raise ValueError(f"sample_fn({b}) returned images {tuple(images.shape)}, expected "
                                 f"{expected}")
            samples.append(to_uint8(images).cpu())   # what is scored: the 8-bit images one would save
            done += b
        samples = torch.cat(samples)
        feats, logits = predict(self.model, samples)
        scores = mode_scores(modes_of(logits).numpy(), self.num_modes, self.min_count)
        is_mean = is_std = None
        if self.channels == 1:
            is_mean, is_std = inception_score(logits[:, 0], self.splits)
        self.last_samples = samples.numpy()
        self.last_histogram = scores["histogram"]
        return {"modes_covered": scores["modes_covered"], "mode_kl": scores["mode_kl"],
                "digits_fd": digits_fd(feats.numpy(), self._reference_stats(proto["reference_num_images"])),
                "classifier_score": is_mean, "classifier_score_std": is_std, "protocol": proto}
