"""The named benchmark experiments (configs/experiment/<dataset>_<method>[_vit].yaml) name tables: each composes
into the pair's recipe (its family and recipe/<family>_<method>.yaml), plus only what makes its table differ."""

import pytest
import yaml

from dasuite.config.catalog import choices, config_dir
from tests.conftest import compose_config

#: The ViT-only methods' experiments (CDTrans, SSRT) are checked in tests/test_cdtrans.py and tests/test_ssrt.py.
BENCHMARKS = [n for n in choices("experiment") if n.split("_")[0] in ("office31", "office", "visda2017")
              and not n.endswith(("_cdtrans", "_ssrt"))]


def _dataset_of(name: str) -> str:
    """The dataset an experiment file overrides (its ``override /dataset: NAME`` line)."""
    content = yaml.safe_load((config_dir() / "experiment" / f"{name}.yaml").read_text(encoding="utf-8"))
    return next(entry["override /dataset"] for entry in content["defaults"] if "override /dataset" in entry)


def _compose(name: str, *overrides: str):
    return compose_config(f"experiment={name}", *overrides, with_hydra=True)


def test_every_benchmark_table_has_its_experiments():
    expected = {f"{d}_{m}" for d in ("office31", "office_home", "visda2017")
                for m in ("dann", "cdan_e", "mcc", "mdd", "shot")}
    expected |= {f"office_home_{m}_vit" for m in ("dann", "cdan_e", "mcc", "mdd")}
    assert expected == set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_experiment_composes_with_its_family_and_recipe(name):
    cfg = _compose(name)
    method = name.split("_")[-2] if name.endswith("_vit") else name.split("_")[-1]
    method = {"e": "cdan"}.get(method, method)
    choices_ = cfg.hydra.runtime.choices
    assert choices_.dataset == _dataset_of(name) and choices_.method == method
    family = {"office31": "objects"}.get(choices_.dataset, choices_.dataset)
    assert choices_.family == family and choices_.recipe == f"{family}_{method}"
    assert cfg.backbone.pretrained is True
    assert cfg.backbone.name == ("vit_b_16" if name.endswith("_vit") else "resnet50")
    assert cfg.trainer.backbone_lr_mult == 0.1 and cfg.trainer.momentum == 0.9


def _without_hydra(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=False)


@pytest.mark.parametrize("name", [n for n in BENCHMARKS if not n.endswith("_vit")])
def test_an_experiment_is_its_pair_and_method_and_names_only_the_table(name):
    dataset = _dataset_of(name)
    method = name.removeprefix(dataset + "_")
    plain = _without_hydra(compose_config(f"dataset={dataset}", f"method={method.removesuffix('_e')}",
                                          "backbone=resnet50", *(["method.entropy=true"] if method == "cdan_e" else [])))
    assert _without_hydra(compose_config(f"experiment={name}")) == plain


# experiment -> dotted keys and the values the sources give (the recipe's, then the experiment's own)
EXPECTED = {
    "office31_dann": {"trainer.epochs": 20, "trainer.steps_per_epoch": 1000, "trainer.lr": 0.01,
                      "trainer.batch_size": 32, "method.warmup_steps": 1000, "method.discriminator_bn": True,
                      "backbone.bottleneck_dim": 256},
    "office_home_dann": {"trainer.epochs": 30, "trainer.steps_per_epoch": 1000},
    "office31_cdan_e": {"method.entropy": True, "method.warmup_steps": 1000, "trainer.epochs": 20},
    "office31_mcc": {"trainer.epochs": 20, "trainer.steps_per_epoch": 500, "trainer.batch_size": 36,
                     "trainer.lr": 0.005, "backbone.bottleneck_dim": 1024, "method.temperature": 2.5},
    "office_home_mcc": {"trainer.epochs": 30, "trainer.steps_per_epoch": 1000, "backbone.bottleneck_dim": 2048,
                        "trainer.batch_size": 36},
    "visda2017_mcc": {"trainer.lr": 0.002, "method.temperature": 3.0, "backbone.bottleneck_dim": 256},
    "office31_mdd": {"trainer.lr": 0.004, "trainer.lr_alpha": 0.0002, "trainer.weight_decay": 0.0005,
                     "method.margin": 4.0, "method.reversal_weight": 0.1, "method.head_hidden": [1024],
                     "backbone.bottleneck_dim": 1024, "trainer.epochs": 20},
    "office_home_mdd": {"method.head_hidden": [2048], "backbone.bottleneck_dim": 2048, "trainer.epochs": 30},
    "visda2017_mdd": {"trainer.batch_size": 36, "backbone.bottleneck_dim": 1024},
    "office_home_mdd_vit": {"trainer.batch_size": 24, "trainer.epochs": 40, "method.head_hidden": [2048]},
    "office_home_dann_vit": {"trainer.batch_size": 24, "trainer.epochs": 30},
    "office31_shot": {"method.source_epochs": 100, "trainer.epochs": 15, "trainer.steps_per_epoch": None,
                      "trainer.batch_size": 64, "method.bottleneck_dim": 256, "method.bottleneck_dropout": 0.0,
                      "method.weight_norm": True, "method.beta": 0.3, "backbone.bottleneck_dim": None,
                      "trainer.lr_schedule": "dann"},
    "office_home_shot": {"method.source_epochs": 50, "trainer.epochs": 15, "dataset.augment": "window_crop_flip"},
    "visda2017_shot": {"method.source_epochs": 10, "trainer.lr": 0.001},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_recipe_keys_land_in_the_composed_config(name):
    cfg = _compose(name)
    for key, value in EXPECTED[name].items():
        node = cfg
        for part in key.split("."):
            node = node[part]
        found = list(node) if value is not None and isinstance(value, list) else node
        assert found == value, key


def test_a_task_sweep_and_the_command_line_still_override_the_experiment():
    cfg = _compose("office31_mdd", "dataset.task=W2A", "trainer.epochs=3", "method.margin=2")
    assert (cfg.dataset.task, cfg.trainer.epochs, cfg.method.margin) == ("W2A", 3, 2)
