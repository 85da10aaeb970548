"""Sizes that would silently explode: LeNet demands digit-sized images, the folder pair can keep the images'
own size, and a backbone far larger than usual is named before training."""

import logging

import pytest
from omegaconf import OmegaConf

from dasuite.config.catalog import config_dir
from dasuite.data.folder import folder_pair
from dasuite.assembly.method import backbone_builder
from dasuite.engine.model_size import size_warning
from dasuite.errors import ConfigError
from dasuite.models.lenet import lenet
from tests import fake_data
from tests.conftest import train_in_process


def _backbone(name: str, shape: tuple[int, ...]):
    from hydra.utils import instantiate

    cfg = OmegaConf.load(config_dir() / "backbone" / f"{name}.yaml")
    return cfg, instantiate(cfg, input_shape=shape)


def test_lenet_demands_digit_sized_images_and_says_how_to_get_them():
    with pytest.raises(ConfigError, match=r"lenet is made for digit-sized images.*224×224.*140,450 inputs.*"
                                          r"dataset.image_size=28.*image_size=auto"):
        lenet((3, 224, 224))
    assert lenet((1, 28, 28)).out_features == 500 and lenet((3, 64, 64)).out_features == 500


def test_the_folder_pair_reads_the_images_own_size_with_image_size_auto(tmp_path):
    source = fake_data.write_image_folder(tmp_path / "s", per_class=2, size=(20, 24))
    target = fake_data.write_image_folder(tmp_path / "t", per_class=2, size=(30, 26))
    pair = folder_pair(source, target, image_size="auto", memory_limit_mb=1)
    assert pair.input_shape == (3, 20, 20)  # the first source image's shorter side


@pytest.mark.parametrize(("name", "shape", "warns"), [
    ("mlp", (3, 224, 224), True), ("linear", (3, 224, 224), True), ("linear", (3, 128, 128), False),
    ("mlp", (3, 32, 32), False), ("lenet", (1, 28, 28), False), ("lenet", (3, 64, 64), False),
])
def test_a_backbone_far_larger_than_usual_is_named_with_its_count_and_cause(name, shape, warns):
    cfg, backbone = _backbone(name, shape)
    warning = size_warning(backbone_builder(cfg), backbone, shape)
    assert (warning is not None) == warns
    if warns:
        assert "M parameters on" in warning and f"takes {shape[0] * shape[1] * shape[2]:,} inputs" in warning


def test_the_size_warning_comes_before_training(tmp_path, caplog):
    source = fake_data.write_image_folder(tmp_path / "s", per_class=2, size=(128, 128))
    target = fake_data.write_image_folder(tmp_path / "t", per_class=2, size=(128, 128))
    with caplog.at_level(logging.WARNING, logger="dasuite"):
        summary = train_in_process(tmp_path / "run", "dataset=folder", f"dataset.source_dir={source}",
                                   f"dataset.target_dir={target}", "dataset.image_size=auto", "backbone=mlp",
                                   "trainer.epochs=1", "trainer.batch_size=2", "dataset.val_fraction=0.5")
    assert summary["status"] == "completed", summary.get("error")
    (warning,) = [r.getMessage() for r in caplog.records if "parameters on 128×128 images" in r.getMessage()]
    assert "3.1M parameters" in warning and "net.1 takes 49,152 inputs" in warning
