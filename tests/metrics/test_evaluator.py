"""The Inception score / FID evaluation path, on tiny fake data with random Inception weights.

The real weights cannot be downloaded here: a randomly initialised network with the real
architecture is saved under the real file name in a temporary TORCH_HOME (once per session).
"""
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gantrain.errors import ConfigError
from gantrain.metrics import defaults
from gantrain.metrics.evaluator import ImageEvaluator
from gantrain.metrics.inception import (
    InceptionFeatures,
    missing_weights_message,
    weights_available,
    weights_path,
)
from gantrain.metrics.reference import (
    load_stats,
    reference_key,
    reference_stats,
    resolve_cache_dir,
    stats_path,
)
from tests.metrics.test_fid_is import reference_is


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "env_cache"))


class FakeData:
    def __init__(self, split="train", resolution=16, num_images=1000, root="/data/fake"):
        self.proto = dict(dataset="fake", root=root, split=split, resolution=resolution,
                          num_images=num_images)
        self.calls = 0

    def protocol(self):
        return dict(self.proto)

    def reference_images(self, n, batch_size):
        self.calls += 1
        g = torch.Generator().manual_seed(7)
        r = self.proto["resolution"]
        for i in range(0, n, batch_size):
            yield torch.rand(min(batch_size, n - i), 3, r, r, generator=g) * 2 - 1


class Sampler:
    def __init__(self, seed=3):
        self.g = torch.Generator().manual_seed(seed)
        self.sizes = []

    def __call__(self, n):
        self.sizes.append(n)
        return torch.tanh(2 * torch.randn(n, 3, 16, 16, generator=self.g))


def small_cfg(tmp_path, **kw):
    cfg = dict(num_samples=20, splits=2, batch_size=10, force_fid=True,
               cache_dir=str(tmp_path / "stats"))
    cfg.update(kw)
    return OmegaConf.create(cfg)


# --- weights and features ---------------------------------------------------------------------
def test_weights_path_follows_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert weights_path() == tmp_path / "hub" / "checkpoints" / defaults.WEIGHTS_FILE
    assert not weights_available()
    msg = missing_weights_message()
    assert "\n" not in msg and defaults.WEIGHTS_FILE in msg
    assert str(tmp_path / "hub" / "checkpoints") in msg


def test_features_have_the_right_shapes_and_vary(torch_home, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")
    import pytorch_fid.inception
    monkeypatch.setattr(pytorch_fid.inception, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    model = InceptionFeatures()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x[3] = x[0]
    pool, logits = model(x)
    assert pool.shape == (4, defaults.FEATURE_DIM) and logits.shape == (4, defaults.NUM_CLASSES)
    assert torch.isfinite(pool).all() and torch.isfinite(logits).all()
    assert (pool[1] - pool[0]).abs().max() > 1e-4 and (logits[1] - logits[0]).abs().max() > 1e-5
    torch.testing.assert_close(pool[3], pool[0])
    # unbiased IS logits: pool3 through the fc weight only
    torch.testing.assert_close(logits, pool @ model.net.fc.weight.T)
    # batching does not change the features (eval-mode batch norm); float64 arrays out
    p2, l2 = model.extract([x[:1], x[1:3], x[3:]])
    assert p2.dtype == np.float64 and p2.shape == (4, defaults.FEATURE_DIM)
    np.testing.assert_allclose(p2, pool.double().numpy(), rtol=1e-4, atol=1e-6)
    assert model.protocol()["weights_file"] == defaults.WEIGHTS_FILE
    assert model.protocol()["resize"] == defaults.RESIZE == 299


# --- evaluation -------------------------------------------------------------------------------
@pytest.mark.long
def test_evaluate_records_protocol_and_caches_reference(torch_home, tmp_path, monkeypatch):
    seen = []   # (images, pool3, logits) of every feature extraction
    extract = InceptionFeatures.extract

    def spy(self, batches, *args, **kwargs):
        batches = [b.clone() for b in batches]
        pool, logits = extract(self, iter(batches), *args, **kwargs)
        seen.append((torch.cat(batches)[:len(pool)], pool, logits))
        return pool, logits

    monkeypatch.setattr(InceptionFeatures, "extract", spy)
    data = FakeData()
    ev = ImageEvaluator(small_cfg(tmp_path), data, "cpu")
    assert ev.missing is None
    sampler = Sampler()
    out = ev.evaluate(sampler)
    assert set(out) == {"inception_score", "inception_score_std", "fid", "protocol", "missing"}
    assert out["missing"] is None and sampler.sizes == [10, 10]
    # which images were featurized, and the scores recomputed from those features independently
    (gen_images, pool, logits), (ref_images, ref_pool, _) = seen
    same = Sampler()
    torch.testing.assert_close(gen_images, torch.cat([same(10), same(10)]), atol=0, rtol=0)
    torch.testing.assert_close(ref_images, torch.cat(list(FakeData().reference_images(20, 10))),
                               atol=0, rtol=0)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    is_mean, is_std = reference_is(probs, 2)
    assert out["inception_score"] == pytest.approx(is_mean, rel=1e-6)
    assert out["inception_score_std"] == pytest.approx(is_std, rel=1e-4, abs=1e-9)
    # FID with n << d: S = AAᵀ (A the centred features / √(n−1)), and tr √(S₁S₂) is the sum of
    # the singular values of A₁ᵀA₂ (n×n), which avoids a 2048×2048 sqrtm
    a1 = (pool - pool.mean(0)).T / np.sqrt(len(pool) - 1)
    a2 = (ref_pool - ref_pool.mean(0)).T / np.sqrt(len(ref_pool) - 1)
    fid = (np.sum((pool.mean(0) - ref_pool.mean(0)) ** 2) + np.sum(a1 ** 2) + np.sum(a2 ** 2)
           - 2 * np.linalg.svd(a1.T @ a2, compute_uv=False).sum())
    assert out["fid"] == pytest.approx(fid, rel=1e-4)
    proto = out["protocol"]
    assert proto["weights_file"] == defaults.WEIGHTS_FILE and len(proto["weights_sha256"]) == 16
    assert proto["num_samples"] == 20 and proto["fid_num_samples"] == 20
    assert proto["reference_num_images"] == 20  # null: as many as FID's generated samples
    assert proto["reference_split"] == "train" and proto["reference_dataset"] == "fake"
    assert proto["resize"] == 299 and proto["splits"] == 2 and proto["force_fid"] is True
    assert data.calls == 1
    cached = tmp_path / "stats"
    assert [p.name for p in cached.iterdir()] == [proto["reference_stats"].split("/")[-1]]
    assert proto["reference_key"] in proto["reference_stats"]

    # a fresh evaluator (new process, same protocol) reads the cache; same samples, same FID
    data2 = FakeData(root="/elsewhere")  # the location is not part of the key
    out2 = ImageEvaluator(small_cfg(tmp_path), data2, "cpu").evaluate(Sampler())
    assert data2.calls == 0
    assert out2["protocol"]["reference_stats"] == proto["reference_stats"]
    assert out2["fid"] == pytest.approx(out["fid"], rel=1e-9)
    assert out2["inception_score"] == pytest.approx(out["inception_score"], rel=1e-9)


def test_reference_key_changes_with_the_protocol(torch_home, tmp_path, monkeypatch):
    def key(cfg=None, **data):
        return ImageEvaluator(cfg or small_cfg(tmp_path), FakeData(**data),
                              "cpu").protocol()["reference_key"]
    base = key()
    assert key(root="/other") == base
    others = [key(split="test"), key(resolution=32), key(num_images=999),
              key(small_cfg(tmp_path, reference_num_images=30))]
    monkeypatch.setattr(defaults, "RESIZE", 128)
    others.append(key())
    assert len(set(others + [base])) == len(others) + 1


def test_missing_weights_reports_none_with_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    data, sampler = FakeData(), Sampler()
    ev = ImageEvaluator(small_cfg(tmp_path), data, "cpu")
    assert ev.missing == missing_weights_message()
    out = ev.evaluate(sampler)
    assert out["inception_score"] is None and out["inception_score_std"] is None
    assert out["fid"] is None and out["missing"] == ev.missing
    assert out["protocol"]["weights_file"] == defaults.WEIGHTS_FILE
    assert out["protocol"]["weights_sha256"] is None and out["protocol"]["num_samples"] == 20
    assert sampler.sizes == [] and data.calls == 0


def test_unreadable_weights_report_none_with_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights_path().parent.mkdir(parents=True)
    weights_path().write_bytes(b"not a state dict")
    out = ImageEvaluator(small_cfg(tmp_path), FakeData(), "cpu").evaluate(Sampler())
    assert out["fid"] is None and out["inception_score"] is None
    assert out["missing"].startswith("could not load Inception weights")
    assert "\n" not in out["missing"]


def test_too_few_samples_for_fid_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # the check does not need the weights
    data = FakeData(num_images=50_000)
    with pytest.raises(ConfigError, match=r"^eval\.num_samples=1000 is invalid: FID needs >= 2048"
                       r".*eval\.force_fid=true") as e:
        ImageEvaluator(OmegaConf.create({"num_samples": 1000}), data, "cpu")
    assert "\n" not in str(e.value)
    ImageEvaluator(OmegaConf.create({"num_samples": 1000, "force_fid": True}), data, "cpu")
    ImageEvaluator(defaults.ImageEvalSchema(num_samples=2048), data, "cpu")
    with pytest.raises(ConfigError, match=r"^eval\.reference_num_images=100 "):
        ImageEvaluator(defaults.ImageEvalSchema(num_samples=5000, reference_num_images=100), data, "cpu")
    with pytest.raises(ConfigError, match=r"^eval\.fid_num_samples=1000 "):
        ImageEvaluator(defaults.ImageEvalSchema(num_samples=5000, fid_num_samples=1000), data, "cpu")
    with pytest.raises(ConfigError, match=r"^eval\.splits=10 .*<= eval\.num_samples=5"):
        ImageEvaluator(defaults.ImageEvalSchema(num_samples=5, force_fid=True), data, "cpu")
    with pytest.raises(ConfigError, match=r"^eval\.num_samples=60000 .*has 50000 images"):
        ImageEvaluator(defaults.ImageEvalSchema(num_samples=60_000), data, "cpu")
    ev = ImageEvaluator(defaults.ImageEvalSchema(num_samples=50_000, fid_num_samples=12_800), data, "cpu")
    assert ev.counts(50_000) == (12_800, 12_800)


# --- reference cache and schema ---------------------------------------------------------------
def test_reference_stats_cache(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(3.0), np.eye(3)

    key = {"dataset": "fake", "split": "train", "num_images": 10, "weights_sha256": "ab"}
    mu, sigma, path, hit = reference_stats(key, compute, tmp_path)
    assert not hit and len(calls) == 1 and path == stats_path(key, tmp_path)
    assert path.name.startswith("fake-train-10-") and path.parent == tmp_path
    mu2, sigma2, path2, hit2 = reference_stats(dict(reversed(key.items())), compute, tmp_path)
    assert hit2 and len(calls) == 1 and path2 == path
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(sigma2, sigma)
    for change in ({"split": "test"}, {"num_images": 11}, {"weights_sha256": "cd"}, {"resize": 1}):
        assert reference_key({**key, **change}) != reference_key(key)
        assert reference_stats({**key, **change}, compute, tmp_path)[3] is False
    assert len(calls) == 5
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a corrupt file or one made under another key is recomputed
    path.write_bytes(b"garbage")
    assert load_stats(path, key) is None
    assert reference_stats(key, compute, tmp_path)[3] is False and len(calls) == 6
    assert load_stats(path, {**key, "split": "x"}) is None


def test_cache_dir_resolution(tmp_path, monkeypatch):
    assert resolve_cache_dir(str(tmp_path / "a")) == tmp_path / "a"
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "env"))
    assert resolve_cache_dir(None) == tmp_path / "env"
    monkeypatch.delenv("GANTRAIN_CACHE")
    assert resolve_cache_dir(None).parts[-3:] == (".cache", "gantrain", "fid_stats")


def test_eval_schema_is_the_eval_section():
    from gantrain.config.schema import SECTIONS
    from tests.helpers import make_cfg

    assert SECTIONS["eval"] is defaults.ImageEvalSchema
    merged = OmegaConf.merge(OmegaConf.structured(defaults.ImageEvalSchema), make_cfg().eval)
    schema = defaults.ImageEvalSchema(**OmegaConf.to_container(merged))
    assert (schema.splits, schema.batch_size, schema.force_fid) == (defaults.SPLITS,
                                                                    defaults.BATCH_SIZE, False)
    assert schema.reference_num_images is None and schema.cache_dir is None
    for bad in ({"every": -1}, {"splits": 0}, {"batch_size": 0}, {"reference_num_images": 1},
                {"fid_num_samples": 5000}, {"num_samples": 0}, {"mode_min_share": 2.0},
                {"image_steps": [0, -1]}, {"image_steps": [1.5]}, {"image_steps": [True]}):
        with pytest.raises(ConfigError, match=rf"^eval\.{next(iter(bad))}(\[\d+\])?="):
            defaults.ImageEvalSchema(**bad)
