"""The image data layer: CIFAR-10 in torchvision's real file format (tensor-resident path), CelebA
and ImageNet folders (DataLoader path, with and without worker processes), fake images; batches
are a pure function of (seed, k); missing or corrupt data fail at once with one line."""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torchvision.datasets import CIFAR10

from gantrain.cli import CONFIG_DIR
from gantrain.config.schema import merge
from gantrain.data import ImageData, batch_indices, batch_seed, make_fake_images
from gantrain.data.schema import dataset_schemas
from gantrain.errors import ConfigError

CIFAR_TRAIN_PER_FILE, CIFAR_TEST = 7, 5


def unit(v) -> torch.Tensor:
    return torch.as_tensor(v, dtype=torch.float32) / 127.5 - 1


def assert_one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


# --- fake CIFAR-10 in torchvision's format --------------------------------------------------
def _cifar_images(n: int, offset: int) -> np.ndarray:
    """[n, 3072] uint8 rows (R plane, G plane, B plane), distinct per image."""
    rng = np.random.default_rng(offset)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _write_cifar(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    rows = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n = CIFAR_TEST if name == "test_batch" else CIFAR_TRAIN_PER_FILE
        rows[name] = _cifar_images(n, i)
        # Python 2 pickles as loaded by torchvision (encoding="latin1") have str keys; read with
        # encoding="bytes" the keys are b"data", b"labels"
        entry = {"batch_label": name, "data": rows[name], "labels": [j % 10 for j in range(n)],
                 "filenames": [f"img_{i}_{j}.png" for j in range(n)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                            "horse", "ship", "truck"], "num_cases_per_batch": 10000, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return rows


def _accept_md5s(monkeypatch, folder: Path) -> None:
    """torchvision checks the md5 of every file against CIFAR-10's (also without download): make
    it expect our files' md5s, so that the check itself still runs."""
    def md5(name):
        return hashlib.md5((folder / name).read_bytes()).hexdigest()
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5(n)] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[n, md5(n)] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5("batches.meta")})


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    root = tmp_path / "cifar"
    folder = root / "cifar-10-batches-py"
    rows = _write_cifar(folder)
    _accept_md5s(monkeypatch, folder)
    train = np.concatenate([rows[f"data_batch_{i}"] for i in range(1, 6)])
    return root, torch.from_numpy(train).reshape(-1, 3, 32, 32), \
        torch.from_numpy(rows["test_batch"]).reshape(-1, 3, 32, 32)


def cifar_data(root, seed=0, batch_size=6, split="train", **kw):
    cfg = OmegaConf.create({"name": "cifar10", "root": str(root), "split": split})
    return ImageData(cfg, seed=seed, batch_size=batch_size, device="cpu", **kw)


def test_cifar10_tensor_resident_batches_hold_the_exact_pixels(cifar):
    root, train, test = cifar
    data = cifar_data(root, seed=3)
    assert (data.name, data.resolution, data.num_images) == ("cifar10", 32, 5 * CIFAR_TRAIN_PER_FILE)
    assert data._images.dtype == torch.uint8 and data._images.shape == (35, 3, 32, 32)
    x = data.batch(4)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert x.min() >= -1 and x.max() <= 1
    idx = batch_indices(3, 4, 6, 35)
    assert torch.equal(x, unit(train[idx]))
    # a known pixel, by hand: image idx[0], green plane (offset 1024), row 5, column 7
    i = int(idx[0])
    file, j = divmod(i, CIFAR_TRAIN_PER_FILE)
    raw = _cifar_images(CIFAR_TRAIN_PER_FILE, file)[j]
    v = np.float32(raw[1024 + 5 * 32 + 7])
    assert x[0, 1, 5, 7].item() == v / np.float32(127.5) - np.float32(1)
    assert unit(0) == -1 and unit(255) == 1
    # the test split
    data = cifar_data(root, split="test")
    assert data.num_images == CIFAR_TEST
    assert torch.equal(torch.cat(list(data.reference_images(5, 2))), unit(test))


def test_batches_are_a_pure_function_of_seed_and_k(cifar):
    root, train, _ = cifar
    a, b = cifar_data(root, seed=1), cifar_data(root, seed=1)
    assert torch.equal(a.batch(7), a.batch(7)) and torch.equal(a.batch(7), b.batch(7))
    assert not torch.equal(a.batch(7), a.batch(8))
    assert not torch.equal(a.batch(7), cifar_data(root, seed=2).batch(7))
    assert batch_seed(1, 7) != batch_seed(7, 1) and batch_seed(1, 7) == batch_seed(1, 7)
    # the indices come from torch.Generator().manual_seed(batch_seed(seed, k))
    g = torch.Generator().manual_seed(batch_seed(1, 7))
    assert torch.equal(a.indices(7), torch.randint(35, (6,), generator=g))
    # with replacement, uniform: over many batches every image turns up
    seen = torch.cat([a.indices(k) for k in range(200)])
    assert set(seen.tolist()) == set(range(35))
    s = a.stream(np.int64(5))      # any integer type (e.g. a step restored from a checkpoint)
    for k in range(5, 9):
        assert torch.equal(next(s), a.batch(k))
    assert a.state_dict() == {}
    a.load_state_dict({})


def test_reference_images_are_the_first_n_in_order(cifar):
    root, train, _ = cifar
    data = cifar_data(root)
    chunks = list(data.reference_images(12, 5))
    assert [len(c) for c in chunks] == [5, 5, 2]
    assert torch.equal(torch.cat(chunks), unit(train[:12]))
    with pytest.raises(ConfigError) as err:
        data.reference_images(36, 5)
    assert_one_line(err, "35")
    p = data.protocol()
    assert p["dataset"] == "cifar10" and p["root"] == str(root.resolve())
    assert (p["split"], p["resolution"], p["num_images"]) == ("train", 32, 35)


def test_missing_cifar10_is_one_line_naming_the_path(tmp_path):
    with pytest.raises(ConfigError) as err:
        cifar_data(tmp_path / "nowhere")
    assert_one_line(err, str(tmp_path / "nowhere" / "cifar-10-batches-py"), "dataset.download=true")


def test_corrupt_cifar10_is_one_line(cifar, monkeypatch):
    root = cifar[0]
    folder = root / "cifar-10-batches-py"
    (folder / "data_batch_3").write_bytes(b"not a pickle at all")
    with pytest.raises(ConfigError) as err:   # md5 mismatch
        cifar_data(root)
    assert_one_line(err, str(folder), "corrupted")
    _accept_md5s(monkeypatch, folder)          # md5 passes, the pickle itself fails
    with pytest.raises(ConfigError) as err:
        cifar_data(root)
    assert_one_line(err, str(folder), "corrupted", "Unpickling")
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": np.zeros((2, 5), np.uint8),
                                                        "labels": [0, 0]}))
    _accept_md5s(monkeypatch, folder)          # well-formed pickle, wrong image size
    with pytest.raises(ConfigError) as err:
        cifar_data(root)
    assert_one_line(err, str(folder), "corrupted")


def test_cifar10_download_without_internet_is_one_line(tmp_path, monkeypatch):
    from urllib.error import URLError

    def offline(*a, **k):
        raise URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    cfg = {"name": "cifar10", "root": str(tmp_path), "download": True}
    with pytest.raises(ConfigError) as err:
        ImageData(cfg, seed=0, batch_size=4, device="cpu")
    assert_one_line(err, str(tmp_path), "failed")


# --- CelebA and ImageNet folders: the DataLoader path -------------------------------------
CENTER = 130   # the center square of each fake CelebA image has one color, the border another


def _celeba_color(i: int) -> tuple[int, int, int]:
    return (20 * i + 10, 200 - 15 * i, 60 + 25 * i)


def _write_celeba(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        a = np.zeros((218, 178, 3), np.uint8)
        a[:] = (255, 255, 0)
        top, left = (218 - CENTER) // 2, (178 - CENTER) // 2
        a[top:top + CENTER, left:left + CENTER] = _celeba_color(i)
        Image.fromarray(a).save(folder / f"{i + 1:06d}.jpg", quality=100)


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("celeba_root")
    _write_celeba(root / "celeba" / "img_align_celeba", 6)
    return root


def folder_data(name, root, workers, seed=0, batch_size=4, **cfg):
    return ImageData({"name": name, "root": str(root), **cfg}, seed=seed, batch_size=batch_size,
                     device="cpu", workers=workers)


@pytest.mark.parametrize("workers", [0, 2])
def test_celeba_folder_through_the_dataloader(celeba_root, workers):
    data = folder_data("celeba", celeba_root, workers, seed=5)
    try:
        assert (data.name, data.resolution, data.num_images) == ("celeba", 64, 6)
        x = data.batch(2)
        assert x.shape == (4, 3, 64, 64) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
        # the 108 center crop lies inside the one-color center: the border color never shows
        for img, i in zip(x, data.indices(2).tolist()):
            want = unit(_celeba_color(i))[:, None, None]
            assert (img - want).abs().max() <= 4 / 127.5
        s = data.stream(3)
        for k in range(3, 8):
            assert torch.equal(next(s), data.batch(k))
        s2 = data.stream(1)                   # a new stream restarts the (persistent) workers
        assert torch.equal(next(s2), data.batch(1))
        with pytest.raises(RuntimeError, match="replaced"):
            next(s)
        assert torch.equal(next(s2), data.batch(2))
        ref = torch.cat(list(data.reference_images(6, 4)))
        assert torch.equal(ref, torch.stack([data._finish(data._files[i][None])[0]
                                             for i in range(6)]))
        for img, i in zip(ref, range(6)):
            assert (img - unit(_celeba_color(i))[:, None, None]).abs().max() <= 4 / 127.5
        p = data.protocol()
        assert (p["dataset"], p["split"], p["resolution"], p["num_images"]) == \
            ("celeba", "train", 64, 6)
        assert "108" in p["preprocess"]
    finally:
        data.close()


def test_celeba_without_crop_shows_the_border(celeba_root):
    data = folder_data("celeba", celeba_root, 0, crop=None)
    img = data.batch(0)[0]
    assert (img[:, 0, 0] - unit((255, 255, 0))).abs().max() <= 4 / 127.5
    with pytest.raises(ConfigError) as err:
        folder_data("celeba", celeba_root, 0, crop=500)
    assert_one_line(err, "dataset.crop=500", "178x218")


def test_celeba_splits(tmp_path):
    folder = tmp_path / "img_align_celeba"       # the plain layout, root/img_align_celeba
    _write_celeba(folder, 3)
    (folder / "000002.jpg").rename(folder / "162771.jpg")
    assert folder_data("celeba", tmp_path, 0).num_images == 2
    assert folder_data("celeba", tmp_path, 0, split="valid").num_images == 1
    assert folder_data("celeba", tmp_path, 0, split="all").num_images == 3
    with pytest.raises(ConfigError) as err:
        folder_data("celeba", tmp_path, 0, split="test")
    assert_one_line(err, "dataset.split='test'", str(folder))
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 2\n162771.jpg 0\n000003.jpg 2\n")
    data = folder_data("celeba", tmp_path, 0, split="test")
    assert data.num_images == 2 and data._files.names.tolist() == [b"000001.jpg", b"000003.jpg"]


def test_missing_or_unreadable_celeba_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        folder_data("celeba", tmp_path, 0)
    assert_one_line(err, str(tmp_path / "celeba" / "img_align_celeba"), "img_align_celeba.zip")
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    (folder / "000001.jpg").write_bytes(b"garbage")
    with pytest.raises(ConfigError) as err:
        folder_data("celeba", tmp_path, 0)
    assert_one_line(err, str(folder / "000001.jpg"))


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet_root")
    rng = np.random.default_rng(0)
    sizes = [(160, 200), (300, 150), (128, 128), (140, 500), (200, 170)]
    for c, cls in enumerate(["n01440764", "n01443537", "n01484850"]):
        (root / "train" / cls).mkdir(parents=True)
        for j, (h, w) in enumerate(sizes[c:c + 3]):
            a = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            img = Image.fromarray(a)
            if (c, j) == (1, 1):
                img = img.convert("L")          # a grayscale JPEG, as ImageNet has some
            img.save(root / "train" / cls / f"{cls}_{j}.JPEG")
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_imagenet_folder_through_the_dataloader(imagenet_root, workers):
    data = folder_data("imagenet", imagenet_root, workers, seed=1, batch_size=5)
    try:
        assert (data.name, data.resolution, data.num_images) == ("imagenet", 128, 9)
        x = data.batch(0)
        assert x.shape == (5, 3, 128, 128) and x.min() >= -1 and x.max() <= 1
        s = data.stream(0)
        for k in range(4):
            assert torch.equal(next(s), data.batch(k))
        # reference images: a fixed shuffle (seed 0), not the class-sorted file order
        ref = torch.cat(list(data.reference_images(9, 4)))
        order = torch.randperm(9, generator=torch.Generator().manual_seed(0))
        assert torch.equal(ref, torch.stack([unit(data._files[i]) for i in order.tolist()]))
        assert data.protocol()["reference_order"] == "permutation(seed=0)"
        gray = data._files[[n.decode() for n in data._files.names].index(
            "n01443537/n01443537_1.JPEG")]
        assert gray.shape == (3, 128, 128) and torch.equal(gray[0], gray[1])
    finally:
        data.close()


def test_imagenet_resize_then_center_crop(tmp_path):
    cls = tmp_path / "train" / "a"
    cls.mkdir(parents=True)
    a = np.zeros((256, 512, 3), np.uint8)       # shorter side 256 -> 128; the center 256 columns
    a[:, 128:384] = (10, 100, 250)              # have one color, the sides another
    Image.fromarray(a).save(cls / "x.png")
    x = folder_data("imagenet", tmp_path, 0).batch(0)[0]
    err = (x - unit((10, 100, 250))[:, None, None]).abs()
    assert x.shape == (3, 128, 128) and err[:, :, 1:-1].max() <= 1 / 127.5
    # the antialiased resize ran on the whole image: the crop's edge columns blend in the sides
    assert err[:, :, 0].max() > 0.1 and err[:, :, -1].max() > 0.1


def test_missing_imagenet_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        folder_data("imagenet", tmp_path, 0)
    assert_one_line(err, str(tmp_path / "train"), "<class>")
    (tmp_path / "train").mkdir()
    with pytest.raises(ConfigError) as err:     # a folder without class folders
        folder_data("imagenet", tmp_path, 0)
    assert_one_line(err, str(tmp_path / "train"))


# --- fake images ----------------------------------------------------------------------------
def test_fake_images_are_deterministic_smooth_and_varied():
    x = make_fake_images(40, 32)
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x, make_fake_images(40, 32))
    assert torch.equal(x[:10], make_fake_images(10, 32))        # image i depends on i only
    xf = x.float()
    assert xf.std(dim=(1, 2, 3)).min() > 5                       # no constant image
    assert (xf[1:] - xf[:-1]).abs().mean() > 20                  # images differ
    # smooth: neighbouring pixels are far closer than random pairs of pixels
    neighbour = (xf[..., 1:] - xf[..., :-1]).abs().mean()
    shuffled = xf.flatten(2)[..., torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0))]
    assert neighbour < 0.2 * (shuffled[..., 1:] - shuffled[..., :-1]).abs().mean()
    for res in (64, 128):
        assert make_fake_images(3, res).shape == (3, 3, res, res)

    data = ImageData(OmegaConf.create({"name": "fake_images", "resolution": 32, "size": 40}),
                     seed=0, batch_size=8, device="cpu")
    assert (data.name, data.resolution, data.num_images) == ("fake_images", 32, 40)
    assert torch.equal(torch.cat(list(data.reference_images(40, 16))), unit(x))
    assert torch.equal(data.batch(3), unit(x[data.indices(3)]))
    s = data.stream(2)
    assert torch.equal(next(s), data.batch(2)) and torch.equal(next(s), data.batch(3))
    assert data.protocol()["root"] is None


def test_bad_dataset_config_is_one_line():
    with pytest.raises(ConfigError) as err:
        ImageData({"name": "mnist"}, seed=0, batch_size=4, device="cpu")
    assert_one_line(err, "dataset.name", "cifar10")
    with pytest.raises(ConfigError) as err:
        ImageData({"name": "cifar10", "resolution": 64}, seed=0, batch_size=4, device="cpu")
    assert_one_line(err, "dataset.resolution=64")
    with pytest.raises(ConfigError) as err:
        ImageData({"name": "fake_images", "size": 0}, seed=0, batch_size=4, device="cpu")
    assert_one_line(err, "dataset.size=0")
    with pytest.raises(ConfigError) as err:
        ImageData({"name": "fake_images", "sise": 3}, seed=0, batch_size=4, device="cpu")
    assert_one_line(err, "sise")
    with pytest.raises(ConfigError) as err:
        ImageData({"name": "fake_images"}, seed=0, batch_size=0, device="cpu")
    assert_one_line(err, "batch_size=0")


# --- the config files -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["celeba", "cifar10", "fake_images", "imagenet"])   # digits: test_digits
def test_dataset_configs_compose_with_the_image_setup(name):
    from tests.helpers import make_cfg
    arch = {"cifar10": "resnet_v1", "fake_images": "resnet_v1", "celeba": "resnet_celeba",
            "imagenet": "resnet_imagenet"}[name]
    assert f"override /arch: {arch}" in (Path(CONFIG_DIR) / "dataset" / f"{name}.yaml").read_text()
    # until the image architectures exist, a command-line arch replaces the dataset's choice
    extra = [] if (Path(CONFIG_DIR) / "arch" / f"{arch}.yaml").exists() else ["arch=mlp"]
    cfg = make_cfg(f"dataset={name}", *extra)
    if not extra:
        assert cfg.arch.name == arch
    assert cfg.dataset.name == name and cfg.loss.name == "standard"
    assert cfg.optim.name == "adam"   # betas (0.5, 0.999) come with the experiment presets
    assert cfg.eta == cfg.optim.lr == 1e-4 and cfg.batch_size == 64
    d = merge(dataset_schemas()[name], cfg.dataset, "dataset")
    assert d.split == "train" and d.workers == 2
    assert d.resolution == {"cifar10": 32, "celeba": 64, "imagenet": 128, "fake_images": 32}[name]
    if name != "fake_images":
        assert d.root == f"data/{name}"
    if name == "cifar10":
        assert d.download is False
    if name == "celeba":
        assert d.crop == 108
    if name == "fake_images":
        assert d.size == 2048
    # command-line overrides still win
    cfg = make_cfg(f"dataset={name}", *extra, "eta=0.01", "batch_size=8", "loss=hinge")
    assert (cfg.optim.lr, cfg.batch_size, cfg.loss.name) == (0.01, 8, "hinge")
