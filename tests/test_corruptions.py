"""The generated corruption benchmark (mnist_corrupted, cifar10_shifted) and the readers of the released
CIFAR-10-C / CIFAR-100-C / ImageNet-C layouts, on fake trees written here."""

import hashlib

import numpy as np
import pytest
import torch

from dasuite.assembly.pair import build_pair
from dasuite.data.corrupted import corrupted_pair
from dasuite.data.corruption_filters import gaussian_filter
from dasuite.data.corruptions import CORRUPTIONS, STANDARD, corrupt, corruption_plan
from dasuite.data.image_pair import image_pair
from dasuite.data.released_c import read_cifar_c, read_imagenet_c
from dasuite.errors import ConfigError
from tests import fake_data
from tests.conftest import compose_config

SHAPES = [(1, 28), (3, 32)]  # digits, CIFAR
#: Corruptions drawing nothing at random: the same output whatever the seed.
DETERMINISTIC = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression", "gaussian_blur"}
#: Not monotone in pixel distance at every step, as published: glass and motion blur repeat a parameter between
#: two severities; pixelate's down-sampled sides alias at 28 and 32 px; frost scales the image down as it adds
#: texture, so a mid-grey image moves less at 5 than at 1 (its correlation with the clean image falls at every
#: step, checked below); elastic's affine
#: jitter shrinks with severity while its local displacement grows, so its pixel distance falls.
NOT_STEPWISE = {"glass_blur", "motion_blur", "pixelate", "frost", "elastic_transform"}


def natural(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images in mid-range with one bright bar: neither flat nor noise."""
    g = torch.Generator().manual_seed(seed)
    f = gaussian_filter(torch.rand(n, channels, size, size, generator=g), 2.0)
    low, high = f.amin((1, 2, 3), keepdim=True), f.amax((1, 2, 3), keepdim=True)
    f = 0.15 + 0.7 * (f - low) / (high - low)
    f[..., size // 4: size // 2, size // 3: size // 3 + 4] = 0.95
    return (f * 255).round().to(torch.uint8)


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().mean().item()


def decorrelation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float().flatten(1), b.float().flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean().item()


@pytest.mark.parametrize(("channels", "size"), SHAPES)
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_changes_the_image_keeps_its_form_and_is_seeded(name, channels, size):
    x = natural(8, channels, size)
    for severity in (1, 5):
        out = corrupt(x, torch.Generator().manual_seed(3), name, severity)
        assert out.shape == x.shape and out.dtype == torch.uint8
        assert not torch.equal(out, x) and 0 < out.float().mean() < 255
        assert torch.equal(out, corrupt(x, torch.Generator().manual_seed(3), name, severity))
        other = corrupt(x, torch.Generator().manual_seed(4), name, severity)
        assert torch.equal(other, out) == (name in DETERMINISTIC)


@pytest.mark.parametrize(("channels", "size"), SHAPES)
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_moves_the_image_further_from_the_clean_one(name, channels, size):
    x = natural(32, channels, size)
    outs = [corrupt(x, torch.Generator().manual_seed(0), name, s) for s in range(1, 6)]
    far = [distance(out, x) for out in outs]
    if name == "elastic_transform":
        assert far[0] > far[-1] > 0  # as published: see NOT_STEPWISE
    elif name != "frost":  # frost: its correlation with the clean image, below
        assert far[-1] > far[0]
    if name not in NOT_STEPWISE:
        assert all(b >= a * 0.98 for a, b in zip(far, far[1:])), far
    if name == "frost":
        apart = [decorrelation(out, x) for out in outs]
        assert all(b > a for a, b in zip(apart, apart[1:])), apart


def test_the_corruption_families_and_the_standard_fifteen():
    assert len(STANDARD) == 15 and STANDARD[0] == "gaussian_noise" and STANDARD[-1] == "jpeg_compression"
    families = {name: CORRUPTIONS[name].family for name in STANDARD}
    assert [sum(f == k for f in families.values()) for k in ("noise", "blur", "weather", "digital")] == [3, 4, 4, 4]
    assert all(len(c.severities) == 5 for c in CORRUPTIONS.values())


def test_a_corruption_plan_is_a_name_a_list_or_all_with_one_or_per_corruption_severities():
    assert corruption_plan("fog", 2) == [("fog", 2)]
    assert corruption_plan(["snow", "fog"], [5, 1]) == [("snow", 5), ("fog", 1)]
    assert corruption_plan("all", 5) == [(name, 5) for name in STANDARD]
    with pytest.raises(ConfigError, match=r"corruption='jpeg': \['jpeg'\] is not a corruption.*jpeg_compression"):
        corruption_plan("jpeg", 3)
    with pytest.raises(ConfigError, match=r"dataset.severity=6 must be an integer from 1 to 5"):
        corruption_plan("fog", 6)
    with pytest.raises(ConfigError, match=r"one such integer per corruption \(2 here\)"):
        corruption_plan(["snow", "fog"], [5])


def _rows(x: torch.Tensor) -> set[str]:
    return {hashlib.sha1(image.numpy().tobytes()).hexdigest() for image in x}


def test_mnist_corrupted_deals_disjoint_seeded_parts_and_corrupts_only_the_target(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    fake_data.write_mnist(data, "test", n=90)
    before = sorted(data.rglob("*"))
    test = {"name": "mnist", "split": "test"}
    clean = image_pair(test, test, test, data_root=data, seed=7)
    pair = corrupted_pair(test, test, test, corruption="impulse_noise", severity=4, data_root=data, seed=7,
                          cache_dir=cache)
    assert torch.equal(pair.source.x, clean.source.x)  # the clean source part
    assert not _rows(clean.source.x) & (_rows(clean.target.x) | _rows(clean.target_test.x))
    assert len(pair.source) + len(pair.target) + len(pair.target_test) == 90
    assert torch.equal(pair.target.y, clean.target.y) and not torch.equal(pair.target.x, clean.target.x)
    assert sorted(data.rglob("*")) == before and len(list((cache / "corruptions").glob("*.pt"))) == 2
    again = corrupted_pair(test, test, test, corruption="impulse_noise", severity=4, data_root=data, seed=7,
                           cache_dir=cache)
    assert torch.equal(again.target.x, pair.target.x) and torch.equal(again.target_test.x, pair.target_test.x)
    other = corrupted_pair(test, test, test, corruption="impulse_noise", severity=4, data_root=data, seed=8)
    assert not torch.equal(other.source.x, pair.source.x)  # the seed deals other parts


def test_the_cache_is_read_back_and_uncached_builds_agree(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    fake_data.write_mnist(data, "test", n=30)
    test = {"name": "mnist", "split": "test"}
    first = corrupted_pair(test, test, test, corruption="shot_noise", data_root=data, cache_dir=cache)
    assert torch.equal(corrupted_pair(test, test, test, corruption="shot_noise", data_root=data,
                                      cache_dir=None).target.x, first.target.x)
    for path in (cache / "corruptions").glob("*.pt"):  # the next build must read these files
        torch.save(torch.zeros_like(torch.load(path, weights_only=True)), path)
    assert int(corrupted_pair(test, test, test, corruption="shot_noise", data_root=data,
                              cache_dir=cache).target.x.max()) == 0


def test_a_damaged_cache_file_is_made_again(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    fake_data.write_mnist(data, "test", n=30)
    test = {"name": "mnist", "split": "test"}
    first = corrupted_pair(test, test, test, corruption="shot_noise", data_root=data, cache_dir=cache)
    for path in (cache / "corruptions").glob("*.pt"):
        path.write_bytes(b"not a torch file")
    again = corrupted_pair(test, test, test, corruption="shot_noise", data_root=data, cache_dir=cache)
    assert torch.equal(again.target.x, first.target.x)


def test_a_stream_is_each_corruption_of_the_same_images_in_order(tmp_path):
    fake_data.write_mnist(tmp_path, "test", n=60)
    test = {"name": "mnist", "split": "test"}
    stream = corrupted_pair(test, test, test, corruption=["fog", "contrast"], severity=[2, 5], data_root=tmp_path)
    fog = corrupted_pair(test, test, test, corruption="fog", severity=2, data_root=tmp_path)
    contrast = corrupted_pair(test, test, test, corruption="contrast", severity=5, data_root=tmp_path)
    n = len(fog.target_test)
    assert len(stream.target_test) == 2 * n and torch.equal(stream.target_test.y, fog.target_test.y.repeat(2))
    assert torch.equal(stream.target_test.x[:n], fog.target_test.x)  # a set does not depend on its neighbours
    assert torch.equal(stream.target_test.x[n:], contrast.target_test.x)


def test_mnist_corrupted_config_builds_with_corruption_and_severity_overrides(tmp_path):
    fake_data.write_mnist(tmp_path / "data", "test", n=60)
    cfg = compose_config("dataset=mnist_corrupted", f"data_root={tmp_path / 'data'}", f"cache_dir={tmp_path / 'c'}",
                         "dataset.corruption=[snow,pixelate]", "dataset.severity=3")
    pair = build_pair(cfg.dataset)
    assert pair.input_shape == (1, 28, 28) and len(pair.target_test) == 2 * 20 and len(pair.target_train) == 2 * 20
    assert len(pair.source_train) + len(pair.source_val) == 20
    with pytest.raises(ConfigError, match="dataset.corruption='haze'"):
        build_pair(compose_config("dataset=mnist_corrupted", f"data_root={tmp_path / 'data'}",
                                  "dataset.corruption=haze").dataset)


def test_cifar_c_reader_takes_the_severity_block_of_the_released_arrays(tmp_path):
    labels = fake_data.write_cifar_c(tmp_path, ("fog", "snow"), n=6)
    snow = read_cifar_c(tmp_path, "snow", 3)
    assert snow.x.shape == (6, 3, 32, 32) and snow.x.dtype == torch.uint8
    assert int(snow.x.min()) == int(snow.x.max()) == 31  # severity 3 of the second corruption
    assert snow.y.tolist() == labels[12:18].tolist() and snow.class_names[0] == "airplane"
    fake_data.write_cifar_c(tmp_path, ("fog",), n=4, folder="CIFAR-100-C")
    hundred = read_cifar_c(tmp_path, "fog", 5, release="cifar100_c")
    assert int(hundred.x[0].max()) == 50 and len(hundred.class_names) == 100


def test_cifar_c_errors_name_the_file_and_the_official_page(tmp_path):
    with pytest.raises(ConfigError) as error:
        read_cifar_c(tmp_path, "fog", 5)
    message = str(error.value)
    assert str(tmp_path / "CIFAR-10-C" / "fog.npy") in message and "https://zenodo.org/records/2535967" in message
    assert "download=true" in message and "\n" not in message
    with pytest.raises(ConfigError, match="spatter, saturate"):
        read_cifar_c(tmp_path, "haze", 5)
    (tmp_path / "CIFAR-10-C").mkdir()
    np.save(tmp_path / "CIFAR-10-C" / "fog.npy", np.zeros((7, 32, 32, 3), np.uint8))
    np.save(tmp_path / "CIFAR-10-C" / "labels.npy", np.zeros(7, np.uint8))
    with pytest.raises(ConfigError, match=r"fog.npy is not a valid dataset file: holds uint8 \(7, 32, 32, 3\)"):
        read_cifar_c(tmp_path, "fog", 1)


def test_cifar10_c_pair_is_the_clean_source_and_the_released_stream(tmp_path):
    fake_data.write_cifar10(tmp_path)
    fake_data.write_cifar_c(tmp_path, ("fog", "snow"), n=6)
    pair = build_pair(compose_config("dataset=cifar10_c", f"data_root={tmp_path}", "dataset.corruption=[snow,fog]",
                                     "dataset.severity=2").dataset)
    assert len(pair.source_train) + len(pair.source_val) == 50 and len(pair.target_test) == 12
    assert pair.target_test.x[:6].unique().tolist() == [21] and pair.target_test.x[6:].unique().tolist() == [20]
    assert torch.equal(pair.target_train, pair.target_test.x)


def test_imagenet_c_reader_reads_the_official_folders(tmp_path):
    fake_data.write_imagenet_c(tmp_path, "fog", 3, wnids=("n02", "n01"), per_class=2)
    images, classes = read_imagenet_c(tmp_path, "fog", 3, image_size=16)
    assert classes == ["n01", "n02"] and images.y.tolist() == [0, 0, 1, 1]
    assert images.x.shape == (4, 3, 16, 16) and images.x.dtype == torch.uint8
    with pytest.raises(ConfigError) as error:
        read_imagenet_c(tmp_path, "fog", 4)
    message = str(error.value)
    assert str(tmp_path / "ImageNet-C" / "fog" / "4") in message and "weather.tar" in message
    assert "https://zenodo.org/records/2235448" in message
