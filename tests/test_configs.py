"""Every YAML in configs/ composes and builds; new files are picked up automatically."""

import re

import pytest
from hydra.utils import get_method, instantiate

from dasuite.commands.list import format_catalog
from dasuite.config.catalog import GROUPS, choices, config_dir
from dasuite.assembly.method import build_method
from dasuite.assembly.pair import build_pair
from dasuite.assembly.trainer import build_trainer
from tests import fake_data
from tests.conftest import compose_config

CONFIG_FILES = [(group, name) for group in GROUPS for name in choices(group)]


def test_every_group_has_files():
    assert all(choices(group) for group in GROUPS)
    assert {"source_only", "dann", "mmd", "finetune"} <= set(choices("method"))
    assert {"moons", "blobs"} <= set(choices("dataset"))


#: Backbones built (and shape-checked) in test_backbones.py; here they only have to compose.
HEAVY_BACKBONES = {"resnet18", "resnet50", "vgg16", "vit_b_16", "timm"}
#: A pair of each family: a family, or a recipe <family>_<method>, is composed with it.
FAMILY_PAIR = {"adapt_moons": "moons_adapt", "digits": "mnist_usps", "moons": "moons", "none": "blobs",
               "objects": "folder", "office_home": "office_home", "usps_mnist": "usps_mnist",
               "visda2017": "visda2017"}


#: Methods that need a vision-transformer backbone, composed with one.
VIT_METHODS = {"cdtrans", "ssrt"}


def _context(group: str, name: str) -> list[str]:
    """The pair (and method) a config file is meant for."""
    if group == "method" and name in VIT_METHODS:
        return ["dataset=mnist_usps", "backbone=vit_tiny"]
    if group == "backbone":
        return ["dataset=blobs"] if name in ("mlp", "linear") else ["dataset=mnist_usps"]
    if group == "family":
        return [f"dataset={FAMILY_PAIR[name]}"]
    if group == "recipe" and name != "none":
        family = next(f for f in FAMILY_PAIR if name.startswith(f + "_"))
        return [f"dataset={FAMILY_PAIR[family]}", f"method={name.removeprefix(family + '_')}"]
    return []


@pytest.mark.parametrize(("group", "name"), CONFIG_FILES, ids=[f"{g}/{n}" for g, n in CONFIG_FILES])
def test_config_file_composes_and_builds(group, name, tmp_path):
    extra = _context(group, name)
    if (group, name) == ("dataset", "arrays"):
        extra = [f"dataset.{role}={fake_data.write_arrays(tmp_path / f'{role}.npz', seed=i)}"
                 for i, role in enumerate(("source", "target"))]
    cfg = compose_config(f"{group}={name}", *extra)
    if {"data_root", "source_dir"} & set(cfg.dataset.keys()):
        # a real-data pair: built from fake files in test_image_data.py / test_folder.py
        assert cfg.dataset.get("download", False) is False  # never downloads unless asked
        size, channels = cfg.dataset.image_size, cfg.dataset.channels
        input_shape, num_classes = (channels, size, size), 10
        get_method(cfg.dataset._target_)
    else:
        pair = build_pair(cfg.dataset)
        input_shape, num_classes = pair.input_shape, pair.num_classes
    if cfg.backbone.get("name") in HEAVY_BACKBONES or cfg.backbone._target_.endswith("timm_backbone"):
        get_method(cfg.backbone._target_)  # pretrained weights are not on this machine
        return
    backbone = instantiate(cfg.backbone, input_shape=input_shape)
    method = build_method(cfg, input_shape, num_classes)
    trainer = build_trainer(cfg.trainer)
    assert backbone.out_features >= 1 and method.stages() and trainer.epochs >= 1


@pytest.mark.parametrize(("group", "name"), CONFIG_FILES, ids=[f"{g}/{n}" for g, n in CONFIG_FILES])
def test_catalog_lists_and_describes_every_file(group, name):
    text = format_catalog()
    line = next(line for line in text.splitlines() if line.strip().startswith(name + " "))
    assert len(line.split(None, 1)[1]) > 10  # a description from the file's first comment


def test_a_new_yaml_file_is_listed_without_code_changes(tmp_path, monkeypatch):
    fake = tmp_path / "configs"
    for group in GROUPS:
        (fake / group).mkdir(parents=True)
        for name in choices(group):
            (fake / group / f"{name}.yaml").write_text((config_dir() / group / f"{name}.yaml").read_text())
    (fake / "method" / "my_method.yaml").write_text("# My own method.\n_target_: x.Y\n")
    monkeypatch.setattr("dasuite.config.catalog.config_dir", lambda: fake)
    assert re.search(r"^  my_method +My own method\.$", format_catalog(), re.MULTILINE)
