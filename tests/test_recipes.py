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
    assert mcc.trainer.batch_size == 128 and mcc.method.temperature == 2.5  # the family's protocol alone


def test_the_pair_deviates_from_its_family_and_the_command_line_wins():
    assert compose_config("dataset=usps_mnist", "method=dann").trainer.lr == 0.1
    assert compose_config("dataset=usps_mnist", "method=shot").trainer.lr == 0.01  # SHOT's own recipe
    cfg = compose_config("dataset=mnist_usps", "method=dann", "trainer.batch_size=16", "method.warmup_steps=50")
    assert (cfg.trainer.batch_size, cfg.method.warmup_steps) == (16, 50)


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
