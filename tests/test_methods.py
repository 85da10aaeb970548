import math

import pytest
import torch

from dasuite.errors import ConfigError
from dasuite.methods.base import Batch, Draw, Stage, StepContext
from dasuite.methods.dann import DANN
from dasuite.methods.finetune import FineTune
from dasuite.methods.mmd import MMD
from dasuite.methods.source_only import SourceOnly
from dasuite.models.backbones import MLP, Linear


def _batch(n=8):
    g = torch.Generator().manual_seed(0)
    return Batch({"source": Draw(torch.randn(n, 2, generator=g), torch.randint(0, 2, (n,), generator=g)),
                  "target": Draw(torch.randn(n, 2, generator=g) + 1),
                  "target_labeled": Draw(torch.randn(4, 2, generator=g), torch.tensor([0, 1, 0, 1]))})


def _ctx(stage="adapt", progress=0.5):
    return StepContext(progress=progress, stage=stage, optimizer="main", epoch=0, step=0)


def test_warm_start_ramps_the_reversal_over_steps_and_gamma_null_holds_it_constant():
    warm = DANN(MLP((2,)), 2, trade_off=0.5, warmup_steps=1000)
    assert warm.reversal_coeff(0.9, step=0) == 0.0
    assert warm.reversal_coeff(0.0, step=1000) == pytest.approx(0.5 * (2 / (1 + math.exp(-1)) - 1))
    assert DANN(MLP((2,)), 2, trade_off=6.0, gamma=None).reversal_coeff(0.0) == 6.0


def test_head_hidden_makes_an_mlp_head_that_frozen_head_leaves_untouched():
    dann = DANN(MLP((2,)), 3)
    dann.set_head([5, 4])
    assert [m.out_features for m in dann.head if isinstance(m, torch.nn.Linear)] == [5, 4, 3]
    features = torch.randn(6, dann.backbone.out_features, requires_grad=True)
    dann.frozen_head(features).sum().backward()
    assert features.grad is not None and all(p.grad is None for p in dann.head.parameters())


def test_shots_network_adapts_its_bottleneck_and_keeps_the_weight_normalised_head_fixed():
    from dasuite.methods.shot import SHOT

    shot = SHOT(MLP((2,)), 3, bottleneck_dim=4, bottleneck_dropout=0.5, weight_norm=True)
    assert shot.features(torch.randn(5, 2)).shape == (5, 4)
    assert any("parametrizations.weight" in name for name, _ in shot.head.named_parameters())
    adapted = {id(p) for g in shot.param_groups(Stage("adapt", draws=("target",)))["main"] for p in g["params"]}
    assert {id(p) for p in shot.bottleneck.parameters()} <= adapted
    assert not adapted & {id(p) for p in shot.head.parameters()}
    with pytest.raises(ConfigError, match="weight-normalised head is one linear layer"):
        shot.set_head([8])


def test_dann_reversal_coefficient_follows_the_paper_schedule():
    dann = DANN(MLP((2,)), 2, trade_off=0.3, gamma=10.0)
    assert dann.reversal_coeff(0.0) == 0.0
    assert dann.reversal_coeff(0.5) == pytest.approx(0.3 * (2 / (1 + math.exp(-5)) - 1))
    assert dann.reversal_coeff(1.0) == pytest.approx(0.3, rel=1e-4)


@pytest.mark.parametrize(("cls", "terms"), [(SourceOnly, ["cls"]), (DANN, ["cls", "domain"]),
                                             (MMD, ["cls", "mmd"])])
def test_each_loss_term_is_finite_and_reaches_the_backbone(cls, terms):
    torch.manual_seed(0)
    method = cls(MLP((2,), hidden=[8]), 2)
    for term in terms:
        method.zero_grad()
        out = method.training_step(_batch(), _ctx())
        assert sorted(out) == sorted(terms) and all(torch.isfinite(v) and v.ndim == 0 for v in out.values())
        out[term].backward()
        assert method.backbone.net[1].weight.grad.abs().sum() > 0, term


def test_dann_domain_gradient_on_the_backbone_is_reversed_and_scaled():
    torch.manual_seed(0)
    method = DANN(MLP((2,), hidden=[8]), 2, trade_off=1.0)
    grads = {}
    for progress in (0.0, 1.0):
        method.zero_grad()
        method.training_step(_batch(), _ctx(progress=progress))["domain"].backward()
        grads[progress] = method.backbone.net[1].weight.grad.clone()
        disc_grad = method.domain_loss.discriminator[0].weight.grad
        assert disc_grad.abs().sum() > 0  # the discriminator always learns
    assert torch.equal(grads[0.0], torch.zeros_like(grads[0.0]))  # lambda_0 = 0: no signal yet
    # at p = 1 the backbone receives -lambda_1 times the discriminator-loss gradient
    features = method.backbone
    method.zero_grad()
    batch = _batch()
    f = features(torch.cat([batch.xs, batch.xt]))
    logits = method.domain_loss.discriminator(f).squeeze(1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    n = len(batch.xs)
    (0.5 * (bce(logits[:n], torch.ones(n)) + bce(logits[n:], torch.zeros(len(batch.xt))))).backward()
    assert torch.allclose(grads[1.0], -method.reversal_coeff(1.0) * features.net[1].weight.grad, atol=1e-6)


def test_mmd_term_scales_with_trade_off():
    torch.manual_seed(0)
    a = MMD(MLP((2,), hidden=[8]), 2, trade_off=1.0)
    b = MMD(MLP((2,), hidden=[8]), 2, trade_off=3.0)
    b.load_state_dict(a.state_dict())
    mmd_a, mmd_b = (m.training_step(_batch(), _ctx())["mmd"].item() for m in (a, b))
    assert mmd_a != 0 and mmd_b == pytest.approx(3 * mmd_a)


def test_label_smoothing_changes_the_classification_loss():
    torch.manual_seed(0)
    plain, smooth = SourceOnly(Linear((2,)), 2), SourceOnly(Linear((2,)), 2, label_smoothing=0.2)
    smooth.load_state_dict(plain.state_dict())
    assert smooth.training_step(_batch(), _ctx())["cls"] != plain.training_step(_batch(), _ctx())["cls"]


def test_negative_trade_off_is_rejected():
    with pytest.raises(ConfigError, match=r"method.trade_off=-0.1 must be >= 0"):
        DANN(MLP((2,)), 2, trade_off=-0.1)


def test_finetune_pretrains_on_source_then_trains_on_labeled_target():
    method = FineTune(MLP((2,), hidden=[8]), 2, target_epochs=7)
    source, target = method.stages()
    assert source.draws == ("source",) and source.epochs is None
    assert target.draws == ("target_labeled",) and target.epochs == 7
    assert method.requires_target_labels
    groups = method.param_groups(target)["main"]
    assert [g.get("lr_mult", 1.0) for g in groups] == [1.0, 0.1]


def test_frozen_finetune_trains_only_the_head_on_target():
    method = FineTune(MLP((2,), hidden=[8]), 2, freeze_backbone=True)
    target = method.stages()[1]
    params = [p for g in method.param_groups(target)["main"] for p in g["params"]]
    assert {id(p) for p in params} == {id(p) for p in method.head.parameters()}
    method.training_step(_batch(), _ctx(stage="target"))["cls"].backward()
    assert all(p.grad is None for p in method.backbone.parameters())
    assert method.head.weight.grad is not None


@pytest.mark.parametrize("draws", [(), ("source", "source"), ("source", ""), "source", ("source", 3)])
def test_stage_rejects_draws_that_are_no_tuple_of_distinct_names(draws):
    with pytest.raises(ValueError, match=r"must be a non-empty tuple of distinct set names"):
        Stage("x", draws=draws)


def test_non_numeric_trade_off_is_rejected_by_name():
    with pytest.raises(ConfigError, match=r"method.trade_off='abc' must be a number"):
        MMD(MLP((2,)), 2, trade_off="abc")
