"""Recipes: a pair's family and a method's recipe resolve to the published settings, and explicit
overrides, recipe=none and the per-pair deviations take precedence in the documented order."""

import pytest

from dasuite.config.catalog import choices
from tests.conftest import compose_config


def test_naming_the_pair_and_the_method_gives_the_published_recipe():
    cfg = compose_config("dataset=mnist_usps", "method=dann")
    assert (cfg.trainer.batch_size, cfg.trainer.steps_per_epoch, cfg.trainer.epochs) == (128, 2500, 20)
    assert (cfg.trainer.lr_schedule, cfg.trainer.lr_alpha, cfg.trainer.weight_decay) == ("inv", 0.001, 0.001)
    assert cfg.backbone.bottleneck_dim == 256
    assert list(cfg.method.discriminator_hidden) == [1024, 1024] and cfg.method.discriminator_bn
    assert cfg.method.warmup_steps == 1000


def test_each_method_gets_its_own_settings_on_the_same_pair():
    source_only = compose_config("dataset=mnist_usps", "method=source_only")
    shot = compose_config("dataset=mnist_usps", "method=shot")
    mcc = compose_config("dataset=mnist_usps", "method=mcc")
    assert source_only.backbone.bottleneck_dim is None and source_only.trainer.lr_alpha == 0.0003
    assert shot.backbone.out_features is None and shot.method.bottleneck_dim == 256 and shot.method.weight_norm
    assert (shot.trainer.batch_size, shot.trainer.steps_per_epoch, shot.method.beta) == (64, None, 0.1)
    assert mcc.trainer.batch_size == 128 and mcc.method.temperature == 2.5  # TLL's mcc.sh digits line


def test_the_pair_deviates_from_its_family_and_the_command_line_wins():
    assert compose_config("dataset=usps_mnist", "method=dann").trainer.lr == 0.1
    assert compose_config("dataset=usps_mnist", "method=shot").trainer.lr == 0.01  # SHOT's own recipe
    cfg = compose_config("dataset=mnist_usps", "method=dann", "trainer.batch_size=16", "method.warmup_steps=50")
    assert (cfg.trainer.batch_size, cfg.method.warmup_steps) == (16, 50)


def test_the_pair_alone_picks_its_own_published_line():
    office31, office_home, visda = (compose_config(f"dataset={d}", "method=mcc") for d in ("office31", "office_home",
                                                                                         "visda2017"))
    assert (office31.trainer.epochs, office31.trainer.steps_per_epoch, office31.backbone.bottleneck_dim) == (20, 500, 1024)
    assert (office_home.trainer.epochs, office_home.trainer.steps_per_epoch, office_home.backbone.bottleneck_dim) \
        == (30, 1000, 2048)
    assert (visda.trainer.lr, visda.method.temperature, visda.backbone.bottleneck_dim) == (0.002, 3.0, 256)
    assert visda.dataset.augment == "center_crop_flip" and office_home.dataset.augment == "resized_crop_flip"
    source_only = compose_config("dataset=office31", "method=source_only")
    assert (source_only.trainer.lr, source_only.trainer.epochs, source_only.trainer.steps_per_epoch) == (0.001, 5, 500)
    assert compose_config("dataset=office_home", "method=shot").method.source_epochs == 50


def test_a_recipe_is_one_flat_file_and_a_family_includes_at_most_one_other():
    """Who sets a key is the recipe file, or else the family file (and the one family it may include)."""
    import yaml

    from dasuite.config.catalog import config_dir

    for name in choices("recipe"):
        assert "defaults" not in (yaml.safe_load((config_dir() / "recipe" / f"{name}.yaml").read_text()) or {}), name
    for name in choices("family"):
        content = yaml.safe_load((config_dir() / "family" / f"{name}.yaml").read_text()) or {}
        for base in content.get("defaults", []):
            assert "defaults" not in (yaml.safe_load((config_dir() / "family" / f"{base}.yaml").read_text()) or {})


def test_recipe_none_keeps_the_methods_defaults_on_the_familys_protocol():
    cfg = compose_config("dataset=mnist_usps", "method=dann", "recipe=none")
    assert list(cfg.method.discriminator_hidden) == [256, 256] and cfg.method.warmup_steps is None
    assert cfg.trainer.batch_size == 128
    bare = compose_config("dataset=mnist_usps", "method=dann", "recipe=none", "family=none")
    assert (bare.trainer.batch_size, bare.trainer.steps_per_epoch, bare.backbone.bottleneck_dim) == (32, None, None)


def test_the_default_run_is_adapts_two_moons_with_its_recipe():
    cfg = compose_config()
    assert cfg.dataset.rotation_deg == 30.0 and cfg.dataset.target_from_source
    assert (cfg.trainer.optimizer, cfg.trainer.lr, list(cfg.trainer.betas)) == ("adam", 0.001, [0.5, 0.999])
    assert list(cfg.method.head_hidden) == [10, 10] and cfg.method.gamma is None


@pytest.mark.parametrize("name", choices("recipe"))
def test_every_recipe_cites_its_source(name):
    from dasuite.config.catalog import describe

    assert describe("recipe", name)
