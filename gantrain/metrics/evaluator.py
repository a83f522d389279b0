"""Inception score and FID of a generator against a dataset, with their protocol (§E).

``ImageEvaluator(eval_cfg, data, device)`` checks the sample counts at construction (FID needs
``MIN_FID_SAMPLES`` generated and reference images unless ``eval.force_fid``; ``eval.fid=false``
computes the Inception score alone, as the Numerics protocol does) and whether the
Inception weights are present: when they are not, ``evaluator.missing`` holds the one line the
caller prints at start, and every ``evaluate`` reports the metrics as None with that reason.

``data`` provides ``reference_images(n, batch_size)`` (an iterator of [B, 3, H, W] batches in
[-1, 1]) and ``protocol()`` (dataset, root, split, resolution, num_images). Reference statistics
are computed once per protocol and cached (``gantrain.metrics.reference``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch

from gantrain.errors import ConfigError
from gantrain.metrics import defaults
from gantrain.metrics.fid import feature_stats, fid_from_stats
from gantrain.metrics.inception import (
    InceptionFeatures,
    missing_weights_message,
    weights_available,
    weights_path,
    weights_sha256,
)
from gantrain.metrics.inception_score import inception_score
from gantrain.metrics.reference import reference_key, reference_stats, resolve_cache_dir


def _get(cfg: Any, key: str, default: Any) -> Any:
    value = cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)
    return default if value is None else value


def _too_few(key: str, value: int, what: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is invalid: FID needs >= {defaults.MIN_FID_SAMPLES} {what} "
                       f"(set eval.force_fid=true to compute it anyway)")


class ImageEvaluator:
    """Inception score and FID of a generator's samples (module docstring).

    Args:
        eval_cfg: the ``eval`` section (a DictConfig, dict or ImageEvalSchema).
        data: the image dataset: ``reference_images(n, batch_size)`` and ``protocol()``.
        device: where the Inception network runs.
    """

    def __init__(self, eval_cfg: Any, data: Any, device: torch.device | str = "cpu"):
        self.num_samples = int(_get(eval_cfg, "num_samples", None))
        self.fid_num_samples: Optional[int] = _get(eval_cfg, "fid_num_samples", None)
        self.reference_num_images: Optional[int] = _get(eval_cfg, "reference_num_images", None)
        self.batch_size = int(_get(eval_cfg, "batch_size", defaults.BATCH_SIZE))
        self.splits = int(_get(eval_cfg, "splits", defaults.SPLITS))
        self.force_fid = bool(_get(eval_cfg, "force_fid", False))
        self.name = str(_get(eval_cfg, "name", "default"))
        self.fid = bool(_get(eval_cfg, "fid", True))
        self.cache_dir = resolve_cache_dir(_get(eval_cfg, "cache_dir", None))
        self.data, self.device = data, torch.device(device)
        self.data_protocol = dict(data.protocol())
        self.counts(self.num_samples)  # ConfigError now rather than at the first evaluation
        self.missing: Optional[str] = None if weights_available() else missing_weights_message()
        self._model: Optional[InceptionFeatures] = None
        self._reference: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
        # Under torch.distributed (gantrain.distributed.Shard): the sample batches are dealt out
        # round-robin, the features gathered, and rank 0 alone computes the scores.
        self.shard = None

    # --- counts and protocol ------------------------------------------------------------------
    def counts(self, num_samples: int) -> tuple[int, int]:
        """How many images FID uses; ConfigError (one line, naming the key) when they are too few.

        Args:
            num_samples: the generated images of one evaluation.

        Returns:
            (FID's generated samples, reference images); (0, 0) without FID.
        """
        if num_samples < self.splits:
            raise ConfigError(f"eval.splits={self.splits!r} is invalid: must be <= "
                              f"eval.num_samples={num_samples}")
        if not self.fid:
            return 0, 0
        n_fid = num_samples if self.fid_num_samples is None else min(self.fid_num_samples,
                                                                     num_samples)
        n_ref = n_fid if self.reference_num_images is None else self.reference_num_images
        fid_key = "eval.num_samples" if self.fid_num_samples is None else "eval.fid_num_samples"
        ref_key = ("eval.reference_num_images" if self.reference_num_images is not None
                   else fid_key)
        for key, n, what in ((fid_key, n_fid, "generated samples"),
                             (ref_key, n_ref, "reference images")):
            if n < 2:
                raise ConfigError(f"{key}={n!r} is invalid: a covariance needs >= 2 {what}")
            if n < defaults.MIN_FID_SAMPLES and not self.force_fid:
                raise _too_few(key, n, what)
        available = self.data_protocol.get("num_images")
        if available is not None and n_ref > available:
            raise ConfigError(f"{ref_key}={n_ref!r} is invalid: the "
                              f"{self.data_protocol.get('split', '')} split of "
                              f"{self.data_protocol.get('dataset', 'the dataset')} has "
                              f"{available} images")
        return n_fid, n_ref

    def reference_key_dict(self, n_ref: int, proto: dict) -> dict:
        """What the cached reference statistics depend on (not the dataset's location).

        Args:
            n_ref: the number of reference images.
            proto: the evaluation's protocol (``protocol()``), for the Inception settings.

        Returns:
            The key of ``gantrain.metrics.reference``.
        """
        data = {("dataset_num_images" if k == "num_images" else k): v
                for k, v in self.data_protocol.items() if k != "root"}
        weights = {k: proto[k] for k in
                   ("weights_file", "weights_sha256", "resize", "resize_mode", "quantize")}
        return {**data, "num_images": n_ref, **weights, "dims": defaults.FEATURE_DIM}

    def protocol(self, num_samples: Optional[int] = None) -> dict:
        """The protocol recorded with every score.

        Args:
            num_samples: the generated images (None: ``eval.num_samples``).

        Returns:
            Its name, the Inception settings, the sample counts and, with FID, the reference
            data and the reference statistics' key.
        """
        n = self.num_samples if num_samples is None else num_samples
        n_fid, n_ref = self.counts(n)
        proto = {"protocol": self.name, "fid": self.fid, "weights_file": defaults.WEIGHTS_FILE,
                 "weights_sha256": None if self.missing else weights_sha256(weights_path())[:16],
                 "resize": defaults.RESIZE, "resize_mode": defaults.RESIZE_MODE,
                 "quantize": defaults.QUANTIZE,
                 "is_logits": defaults.IS_LOGITS, "num_samples": n, "splits": self.splits,
                 "fid_num_samples": n_fid, "fid_method": defaults.FID_METHOD,
                 "force_fid": self.force_fid}
        if not self.fid:     # nothing of FID's is part of an IS-only protocol
            for k in ("fid_num_samples", "fid_method", "force_fid"):
                proto[k] = None
            return proto
        for k, v in self.data_protocol.items():
            if k == "num_images":
                k = "dataset_num_images"
            proto[k if k.startswith("reference_") else f"reference_{k}"] = v
        proto.update(reference_num_images=n_ref, reference_key=None, reference_stats=None)
        if not self.missing:
            proto["reference_key"] = reference_key(self.reference_key_dict(n_ref, proto))
        return proto

    # --- evaluation ---------------------------------------------------------------------------
    def model(self) -> InceptionFeatures:
        """The Inception network, loaded on first use."""
        if self._model is None:
            self._model = InceptionFeatures(weights_path(), self.device)
        return self._model

    def _samples(self, sample_fn: Callable[[int], torch.Tensor], n: int
                 ) -> Iterator[torch.Tensor]:
        done, chunk = 0, 0
        rank, world = (0, 1) if self.shard is None else (self.shard.rank, self.shard.world)
        while done < n:
            b = min(self.batch_size, n - done)
            chunk += 1
            if (chunk - 1) % world != rank:   # another process's batch: only advance the latents
                sample_fn(b, keep=False)
                done += b
                continue
            with torch.no_grad():
                images = sample_fn(b) if world == 1 else sample_fn(b, keep=True)
            if images.shape[0] != b:
                raise ValueError(f"sample_fn({b}) returned {images.shape[0]} images")
            done += b
            yield images

    def _reference_stats(self, n_ref: int, proto: dict) -> tuple[np.ndarray, np.ndarray, str]:
        key = self.reference_key_dict(n_ref, proto)
        memo = reference_key(key)
        if memo not in self._reference:
            def compute():
                pool, _ = self.model().extract(
                    self.data.reference_images(n_ref, self.batch_size), limit=n_ref)
                if pool.shape[0] < n_ref:
                    raise ValueError(f"the dataset gave {pool.shape[0]} of the {n_ref} "
                                     "reference images asked for")
                return feature_stats(pool)
            mu, sigma, path, _ = reference_stats(key, compute, self.cache_dir)
            self._reference[memo] = (mu, sigma, str(path))
        return self._reference[memo]

    def _gather(self, pool: np.ndarray, logits: np.ndarray, n: int):
        """Every process's features, back in the single-process order of the sample batches."""
        from gantrain.distributed import gather_rows

        both = torch.from_numpy(np.concatenate([pool, logits], axis=1)).to(self.device)
        rows = gather_rows(both).cpu().numpy()
        world, sizes = self.shard.world, []
        done = 0
        while done < n:
            sizes.append(min(self.batch_size, n - done))
            done += sizes[-1]
        order, start = [], {}
        offset = 0
        for r in range(world):   # rank r's rows hold its batches r, r + W, ... in order
            start[r] = offset
            offset += sum(sizes[r::world])
        for c, b in enumerate(sizes):
            r = c % world
            order.extend(range(start[r], start[r] + b))
            start[r] += b
        rows = rows[order]
        return rows[:, :pool.shape[1]], rows[:, pool.shape[1]:]

    def evaluate(self, sample_fn: Callable[[int], torch.Tensor],
                 num_samples: Optional[int] = None) -> dict:
        """Score the generator.

        Args:
            sample_fn: ``sample_fn(n)`` returns n images in [-1, 1].
            num_samples: how many images (None: ``eval.num_samples``).

        Returns:
            {"inception_score", "inception_score_std", "fid", "protocol", "missing"}: the scores
            (None when missing, with the reason in "missing"); {} on ranks other than 0 under
            torch.distributed.
        """
        n = self.num_samples if num_samples is None else int(num_samples)
        n_fid, n_ref = self.counts(n)
        if self.missing is None:
            try:
                self.model()
                weights_sha256(weights_path())
            except Exception as e:  # a corrupt, foreign or vanished file: report, don't end the run
                msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
                self.missing = f"could not load Inception weights {weights_path()}: {msg}"
        proto = self.protocol(n)
        result = {"inception_score": None, "inception_score_std": None, "fid": None,
                  "protocol": proto, "missing": self.missing}
        if self.missing is not None:
            return result
        if self.shard is not None and self.shard.world > 1 and self.shard.rank >= -(-n // self.batch_size):
            for _ in self._samples(sample_fn, n):   # no batch of its own: advance the latents
                pass
            pool, logits = np.zeros((0, defaults.FEATURE_DIM)), np.zeros((0, defaults.NUM_CLASSES))
        else:
            pool, logits = self.model().extract(self._samples(sample_fn, n))
        if self.shard is not None and self.shard.world > 1:
            pool, logits = self._gather(pool, logits, n)
            if self.shard.rank != 0:
                return {}
        is_mean, is_std = inception_score(logits, self.splits)
        if not self.fid:
            result.update(inception_score=is_mean, inception_score_std=is_std)
            return result
        mu_g, sigma_g = feature_stats(pool[:n_fid])
        mu_r, sigma_r, path = self._reference_stats(n_ref, proto)
        proto["reference_stats"] = path
        result.update(inception_score=is_mean, inception_score_std=is_std,
                      fid=fid_from_stats(mu_g, sigma_g, mu_r, sigma_r))
        return result
