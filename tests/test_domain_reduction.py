"""DANN's two strength options: how the two domains' cross-entropies are combined (``domain_reduction``) and
whether λ also weights the discriminator's own loss (``discriminator_trade_off``)."""

import pytest
import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError
from dasuite.losses import DomainAdversarialLoss
from dasuite.methods.base import MAIN, Batch, Draw, StepContext
from dasuite.methods.dann import DANN
from dasuite.models.backbones import MLP


def _by_hand(disc, f_s, f_t):
    """BCE_s + BCE_t of ``disc`` on the features, each the mean over its domain's batch."""
    d_s, d_t = disc(f_s).squeeze(1), disc(f_t).squeeze(1)
    return (F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
            + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t)))


@pytest.mark.parametrize(("reduction", "factor"), [("sum", 1.0), ("mean", 0.5)])
def test_the_reduction_gives_the_sum_or_half_of_it_and_the_features_that_share_of_the_reversed_gradient(
        reduction, factor):
    torch.manual_seed(0)
    disc = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    f_s, f_t = torch.randn(6, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    loss = DomainAdversarialLoss(disc, reduction)(f_s, f_t, coeff=0.7)
    loss.backward()
    g_s, g_t = f_s.grad.clone(), f_t.grad.clone()
    x_s, x_t = f_s.detach().clone().requires_grad_(), f_t.detach().clone().requires_grad_()
    plain = _by_hand(disc, x_s, x_t)
    plain.backward()
    assert loss.item() == pytest.approx(factor * plain.item())
    assert torch.allclose(g_s, -0.7 * factor * x_s.grad, atol=1e-7)
    assert torch.allclose(g_t, -0.7 * factor * x_t.grad, atol=1e-7)


def test_an_unknown_reduction_is_refused_by_the_loss_and_by_dann():
    with pytest.raises(ValueError, match="reduction='avg'"):
        DomainAdversarialLoss(torch.nn.Linear(2, 1), "avg")
    with pytest.raises(ConfigError, match="method.domain_reduction='avg' is not one of mean, sum"):
        DANN(MLP((2,), [4]), 2, domain_reduction="avg")


def _grads(trade_off_on_discriminator: bool):
    """Gradients of DANN's domain term on the features' layer and on the discriminator, λ = 3 throughout."""
    torch.manual_seed(0)
    method = DANN(MLP((2,), [4]), 2, trade_off=3.0, gamma=None, discriminator_hidden=[], domain_reduction="sum",
                  discriminator_trade_off=trade_off_on_discriminator)
    g = torch.Generator().manual_seed(1)
    batch = Batch({"source": Draw(torch.randn(8, 2, generator=g), torch.randint(0, 2, (8,), generator=g)),
                   "target": Draw(torch.randn(8, 2, generator=g) + 1)})
    domain = method.training_step(batch, StepContext(progress=0.5, stage="adapt", optimizer=MAIN, epoch=0, step=3))
    domain["domain"].backward()
    features = torch.cat([p.grad.flatten() for p in method.backbone.parameters()])
    discriminator = torch.cat([p.grad.flatten() for p in method.domain_loss.discriminator.parameters()])
    return domain["domain"].item(), features, discriminator


def test_lambda_on_the_discriminator_scales_its_gradient_and_leaves_the_features_reversed_gradient():
    value, features, discriminator = _grads(False)
    scaled_value, scaled_features, scaled_discriminator = _grads(True)
    assert scaled_value == pytest.approx(3.0 * value)  # λ·L_d instead of L_d behind a reversal of λ
    assert torch.allclose(scaled_features, features, atol=1e-6)  # the features get -λ ∂L_d either way
    assert torch.allclose(scaled_discriminator, 3.0 * discriminator, atol=1e-6)
    assert discriminator.abs().sum() > 0
