"""The default pair, `moons_adapt`: every method runs with its own recipe file (ADAPT's two-moons example or
an argument written before its first run), none switched off, and each trains."""

import pytest

from dasuite.config.catalog import choices
from tests.conftest import compose_config, deployment_methods, train_in_process

#: Every method meant for the default pair: not the ViT-only CDTrans/SSRT, nor fine-tuning (it needs target labels).
METHODS = ["source_only", "dann", "mmd", "jan", "coral", "cdan", "adda", "mcc", "mdd", "self_training", "rotation",
           "shot"]
#: The keys that weight each method's adaptation: a recipe may not set any of them to zero.
STRENGTH = {"dann": ["trade_off"], "mmd": ["trade_off"], "jan": ["trade_off"], "coral": ["trade_off"],
            "cdan": ["trade_off"], "adda": ["trade_off"], "mcc": ["trade_off"], "mdd": ["trade_off", "reversal_weight"],
            "self_training": ["trade_off"], "rotation": ["trade_off"], "shot": ["trade_off"]}




def test_every_method_of_the_default_pair_is_listed():
    skipped = {"cdtrans", "ssrt", "finetune", *deployment_methods()}
    assert set(METHODS) == set(choices("method")) - skipped


@pytest.mark.parametrize("method", METHODS)
def test_each_method_has_a_recipe_file_that_the_default_pair_composes(method):
    assert f"adapt_moons_{method}" in choices("recipe")
    cfg = compose_config(f"method={method}", with_hydra=True)
    assert cfg.hydra.runtime.choices["recipe"] == f"adapt_moons_{method}"
    assert (cfg.trainer.optimizer, cfg.trainer.lr, cfg.trainer.epochs) == ("adam", 0.001, 800)  # ADAPT's protocol
    assert list(cfg.method.head_hidden) == [10, 10] and list(cfg.backbone.hidden) == [10]
    assert all(cfg.method[key] > 0 for key in STRENGTH.get(method, []))


def test_the_recipes_follow_adapts_notebook_where_it_runs_the_method():
    dann, cdan = compose_config("method=dann").method, compose_config("method=cdan").method
    assert (dann.domain_reduction, dann.discriminator_trade_off, dann.gamma) == ("sum", False, None)
    assert cdan.entropy and list(cdan.discriminator_hidden) == [10, 10] and cdan.gamma is None
    assert compose_config("method=coral").method.trade_off == 1000.0
    adda = compose_config("method=adda").method
    assert (adda.adapt_lr_mult, list(adda.discriminator_hidden)) == (1.0, [10, 10])
    mdd = compose_config("method=mdd").method
    assert (mdd.margin, mdd.reversal_weight, mdd.warmup_steps, mdd.head_dropout) == (4.0, 0.1, None, 0.0)
    assert compose_config().dataset.val_fraction == 0.0  # ADAPT trains on all 100 source points


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_a_few_steps_with_its_recipe(method, tmp_path):
    summary = train_in_process(tmp_path / method, f"method={method}", "trainer.epochs=1", "trainer.steps_per_epoch=2",
                               *(["method.source_epochs=1"] if method in ("adda", "shot") else []), recipes=True)
    assert summary["status"] == "completed" and summary["dataset"] == "moons_adapt"
    assert summary["steps"] == (4 if method in ("adda", "shot") else 2)
