"""Image pairs from tiny files in the real on-disk formats (IDX, LIBSVM bz2, .mat, CIFAR pickles, folders)."""

import hashlib
import logging

import pytest
import torch

from dasuite.data.cifar import read_cifar10
from dasuite.data.digits import read_mnist, read_svhn, read_usps
from dasuite.data.image_pair import image_pair
from dasuite.data.images import Preprocess, fit_images, random_crop
from dasuite.data.shifts import digit_shift
from dasuite.errors import ConfigError
from dasuite.assembly.pair import build_pair
from tests import fake_data
from tests.conftest import compose_config, run_cli, train_in_process


def _rows(x: torch.Tensor) -> set[str]:
    return {hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in x}


def test_mnist_reads_whichever_split_is_present_gz_or_raw(tmp_path):
    labels = fake_data.write_mnist(tmp_path, "test", n=60)
    data = read_mnist(tmp_path, "test")
    assert data.x.shape == (60, 1, 28, 28) and data.x.dtype == torch.uint8
    assert data.y.tolist() == labels.tolist() and data.class_names == [str(d) for d in range(10)]
    fake_data.write_mnist(tmp_path, "train", n=20, gz=False, folder="MNIST/raw")  # torchvision's layout
    assert read_mnist(tmp_path, "train").x.shape == (20, 1, 28, 28)


def test_missing_mnist_names_the_files_and_the_download_switch(tmp_path):
    fake_data.write_mnist(tmp_path, "test")
    with pytest.raises(ConfigError) as error:
        read_mnist(tmp_path, "train")
    message = str(error.value)
    assert "MNIST train split not found" in message and str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "download=true" in message


def test_truncated_idx_file_is_reported_as_corrupted(tmp_path):
    fake_data.write_mnist(tmp_path, "test", n=10, gz=False)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ConfigError, match="t10k-images-idx3-ubyte is not a valid dataset file"):
        read_mnist(tmp_path, "test")


def test_usps_svhn_and_cifar_readers(tmp_path):
    usps_labels = fake_data.write_usps(tmp_path, "test", n=40)
    usps = read_usps(tmp_path, "test")
    assert usps.x.shape == (40, 1, 16, 16) and usps.y.tolist() == usps_labels.tolist()
    svhn_labels = fake_data.write_svhn(tmp_path, "train", n=30)
    svhn = read_svhn(tmp_path, "train")
    assert svhn.x.shape == (30, 3, 32, 32) and svhn.y.tolist() == svhn_labels.tolist()  # 10 -> 0
    assert 0 in svhn.y.tolist() and max(svhn.y.tolist()) == 9
    fake_data.write_cifar10(tmp_path, n_per_batch=10)
    train, test = read_cifar10(tmp_path, "train"), read_cifar10(tmp_path, "test")
    assert train.x.shape == (50, 3, 32, 32) and test.x.shape == (10, 3, 32, 32)
    assert train.class_names[0] == "airplane" and len(train.class_names) == 10
    for reader, name in ((read_usps, "USPS"), (read_svhn, "SVHN"), (read_cifar10, "CIFAR-10")):
        with pytest.raises(ConfigError, match=f"{name} .* not found: expected .*download=true"):
            reader(tmp_path / "empty", "train")


def test_roles_on_the_same_split_share_it_disjointly(tmp_path):
    fake_data.write_mnist(tmp_path, "test", n=90)
    test = {"name": "mnist", "split": "test"}
    domains = image_pair(test, test, test, data_root=tmp_path, seed=1)
    parts = [domains.source.x, domains.target.x, domains.target_test.x]
    assert [len(p) for p in parts] == [30, 30, 30]
    hashes = [_rows(p) for p in parts]
    assert not (hashes[0] & hashes[1]) and not (hashes[0] & hashes[2]) and not (hashes[1] & hashes[2])
    again = image_pair(test, test, test, data_root=tmp_path, seed=1)
    assert torch.equal(again.target.x, domains.target.x)


@pytest.mark.parametrize(("pair", "backbone"), [("mnist_usps", "lenet"), ("cifar10_shifted", "resnet18"),
                                              ("folder", "resnet50"), ("moons", "mlp")])
def test_each_pair_picks_its_backbone_unless_the_command_line_names_one(pair, backbone):
    assert compose_config(f"dataset={pair}").backbone._target_ == compose_config(f"backbone={backbone}").backbone._target_
    assert compose_config(f"dataset={pair}").backbone.get("name", backbone) == backbone
    assert compose_config(f"dataset={pair}", "backbone=vit_tiny").backbone._target_.endswith("vit_tiny")


def test_the_other_mnist_split_is_suggested_when_present(tmp_path):
    fake_data.write_mnist(tmp_path, "test")
    with pytest.raises(ConfigError, match="The test split is there: .*dataset.source.split=test"):
        read_mnist(tmp_path, "train")


def test_unknown_domain_and_split_are_named(tmp_path):
    ok = {"name": "mnist", "split": "test"}
    with pytest.raises(ConfigError, match="dataset.source.name='mnst' .*mnist, usps, svhn, cifar10"):
        image_pair({"name": "mnst", "split": "test"}, ok, ok, data_root=tmp_path)
    with pytest.raises(ConfigError, match="dataset.target.split='val' must be one of train, test"):
        image_pair(ok, {"name": "mnist", "split": "val"}, ok, data_root=tmp_path)


def test_fit_images_resizes_and_converts_channels():
    x = torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8)
    rgb = fit_images(x, 28, 3)
    assert rgb.shape == (5, 3, 28, 28) and rgb.dtype == torch.uint8
    assert torch.equal(rgb[:, 0], rgb[:, 2])
    grey = fit_images(rgb, 28, 1)
    assert grey.shape == (5, 1, 28, 28) and (grey.int() - rgb[:, :1].int()).abs().max() <= 1


def test_preprocess_normalises_and_crops_within_the_image():
    x = torch.full((4, 1, 8, 8), 255, dtype=torch.uint8)
    assert torch.allclose(Preprocess((0.5,), (0.5,))(x), torch.ones(4, 1, 8, 8))
    image = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8).repeat(16, 1, 1, 1)
    cropped = random_crop(image, flip=True)
    padded = torch.nn.functional.pad(image[:1].float(), (1, 1, 1, 1), mode="replicate")[0, 0].to(torch.uint8)
    windows = [padded[dy:dy + 8, dx:dx + 8] for dy in range(3) for dx in range(3)]
    windows += [w.flip(1) for w in windows]
    for crop in cropped:  # each crop is an 8x8 window of the padded image, possibly mirrored
        assert any(torch.equal(crop[0], w) for w in windows)
    assert not all(torch.equal(c, image[0]) for c in cropped)  # 16 random crops: not all the identity
    with pytest.raises(ConfigError, match="dataset.augment='rotate' is not one of none, crop, crop_flip"):
        Preprocess(augment="rotate")


def test_digit_shift_rotation_inversion_and_colour():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    x[:, :, 4:8, 10:18] = 255  # a bar near the top
    turned = digit_shift(x, g, rotation=90.0)
    assert turned[:, :, 4:8, 10:18].float().mean() < 20  # the bar has left the top ...
    assert max(turned[:, :, 10:18, 4:8].float().mean(), turned[:, :, 10:18, 20:24].float().mean()) > 200  # ... to a side
    assert torch.equal(digit_shift(x, g, invert=True), 255 - x)
    coloured = digit_shift(fit_images(x, 28, 3), g, colour=True)
    assert coloured.shape == (2, 3, 28, 28) and not torch.equal(coloured[:, 0], coloured[:, 1])
    with pytest.raises(ConfigError, match="colour=true needs colour images"):
        digit_shift(x, g, colour=True)


PAIRS = {
    "mnist_usps": lambda root: (fake_data.write_mnist(root, "train"), fake_data.write_usps(root, "train"),
                                fake_data.write_usps(root, "test")),
    "usps_mnist": lambda root: (fake_data.write_usps(root, "train"), fake_data.write_mnist(root, "test")),
    "svhn_mnist": lambda root: (fake_data.write_svhn(root, "train"), fake_data.write_mnist(root, "test")),
    "mnist_shifted": lambda root: (fake_data.write_mnist(root, "train"), fake_data.write_mnist(root, "test")),
    "mnist_mnistm": lambda root: (fake_data.write_mnist(root, "train"), fake_data.write_mnist(root, "test")),
    "mnist_corrupted": lambda root: fake_data.write_mnist(root, "test"),
    "cifar10_shifted": lambda root: fake_data.write_cifar10(root),
    "cifar10_c": lambda root: (fake_data.write_cifar10(root), fake_data.write_cifar_c(root)),
}
EXTRA = {"usps_mnist": ["dataset.target.split=test"], "svhn_mnist": ["dataset.target.split=test"]}


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_every_image_pair_loads_splits_and_trains_one_epoch(pair, tmp_path):
    root = tmp_path / "data"
    PAIRS[pair](root)
    overrides = [f"dataset={pair}", f"data_root={root}", f"cache_dir={tmp_path / 'cache'}", "backbone=lenet",
                 *EXTRA.get(pair, [])]
    built = build_pair(compose_config(*overrides).dataset)
    channels, size = built.input_shape[0], built.input_shape[1]
    for part in (built.source_train.x, built.target_train, built.target_test.x):
        assert part.dtype == torch.uint8 and part.shape[1:] == (channels, size, size) and len(part) > 0
    for labels in (built.source_train.y, built.source_val.y, built.target_test.y):
        assert 0 <= int(labels.min()) and int(labels.max()) < built.num_classes
    assert len(built.source_val) >= 1
    summary = train_in_process(tmp_path / "run", *overrides, "trainer.epochs=1", "trainer.batch_size=8")
    assert summary["status"] == "completed", summary.get("error")
    assert summary["dataset"] == pair and summary["backbone"] == "lenet" and summary["epochs"] == 1
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()


def test_mnistm_stand_in_is_cached_in_cache_dir_never_in_data_root(tmp_path, caplog):
    data = tmp_path / "data"
    fake_data.write_mnist(data, "test", n=40)
    before = sorted(p for p in data.rglob("*"))
    test = {"name": "mnist", "split": "test"}
    from dasuite.data.mnistm import mnist_mnistm

    first = mnist_mnistm(test, test, test, data_root=data, cache_dir=tmp_path / "cache", channels=3)
    cached = list((tmp_path / "cache" / "mnistm_standin").glob("*.pt"))
    assert len(cached) == 2 and sorted(p for p in data.rglob("*")) == before  # target and target test
    second = mnist_mnistm(test, test, test, data_root=data, cache_dir=tmp_path / "cache", channels=3)
    assert torch.equal(first.target.x, second.target.x) and first.target.x.shape[1] == 3
    for path in cached:  # the next build must read these files, not blend again
        torch.save(torch.zeros_like(torch.load(path, weights_only=True)), path)
    assert int(mnist_mnistm(test, test, test, data_root=data, cache_dir=tmp_path / "cache",
                            channels=3).target.x.max()) == 0
    assert first.source.x.shape[1] == 3 and torch.equal(first.source.x[:, 0], first.source.x[:, 1])  # grey source
    assert not torch.equal(first.target.x[:, 0], first.target.x[:, 1])  # colour target
    (tmp_path / "file").write_text("not a folder")  # an unwritable cache_dir: one warning, then in memory
    with caplog.at_level(logging.WARNING, logger="dasuite.data.mnistm"):
        uncached = mnist_mnistm(test, test, test, data_root=data, cache_dir=tmp_path / "file", channels=3)
    warnings = [r.getMessage() for r in caplog.records if r.name == "dasuite.data.mnistm"]
    assert len(warnings) == 1 and f"{tmp_path / 'file' / 'mnistm_standin'}" in warnings[0] \
        and "cache_dir=<a writable folder>" in warnings[0]
    assert torch.equal(uncached.target.x, first.target.x)  # the same blend, made again


def test_cache_dir_defaults_to_the_user_cache_and_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cfg = compose_config("dataset=mnist_mnistm")
    assert cfg.dataset.cache_dir == f"{tmp_path}/dasuite" != cfg.dataset.data_root
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compose_config().cache_dir == "~/.cache/dasuite"


def test_mnistm_stand_in_blends_over_every_packaged_photo():
    from dasuite.data.mnistm import default_photos, load_photos

    photos = default_photos()
    assert {p.name for p in photos} >= {"grace_hopper.jpg", "china.jpg", "flower.jpg"}  # matplotlib, scikit-learn
    assert all(p.shape[0] == 3 and min(p.shape[1:]) >= 28 for p in load_photos(None))


def test_released_mnistm_is_read_from_its_archive_layout(tmp_path):
    from PIL import Image

    folder = tmp_path / "mnist_m"
    for split, n in (("train", 6), ("test", 4)):
        (folder / f"mnist_m_{split}").mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (32, 32), (10 * i, 0, 0)).save(folder / f"mnist_m_{split}" / f"{i:08d}.png")
        (folder / f"mnist_m_{split}_labels.txt").write_text("".join(f"{i:08d}.png {i % 10}\n" for i in range(n)))
    fake_data.write_mnist(tmp_path, "train", n=20)
    pair = build_pair(compose_config("dataset=mnist_mnistm", "dataset.released=true", f"data_root={tmp_path}",
                                     f"cache_dir={tmp_path / 'cache'}").dataset)
    assert len(pair.target_train) == 6 and pair.target_test.y.tolist() == [0, 1, 2, 3]
    assert pair.target_train.shape[1:] == (3, 28, 28) and not (tmp_path / "cache").exists()  # nothing blended
    (folder / "mnist_m_test_labels.txt").unlink()
    with pytest.raises(ConfigError, match=r"MNIST-M \(released\) test split not found: .*mnist_m_test_labels.txt.*"
                                          r"mnist_m.tar.gz unpacked under .*download=true"):
        build_pair(compose_config("dataset=mnist_mnistm", "dataset.released=true", f"data_root={tmp_path}").dataset)


def test_cli_reports_missing_data_in_one_paragraph_and_leaves_no_run_folder(tmp_cwd):
    result = run_cli("train", "dataset=mnist_usps", f"data_root={tmp_cwd / 'nothing'}", "hydra.run.dir=run",
                     cwd=tmp_cwd)
    assert result.returncode == 2  # a config error: the run never started
    assert "MNIST train split not found: expected" in result.stderr and "download=true" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1  # one paragraph
    assert not (tmp_cwd / "run").exists()
