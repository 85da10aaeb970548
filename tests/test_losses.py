import math

import pytest
import torch

from dasuite.losses import DomainAdversarialLoss, GradientReversal, MultiKernelMMD, grad_reverse


def test_grl_forward_is_identity_and_backward_is_minus_lambda():
    x = torch.randn(5, 3, requires_grad=True)
    upstream = torch.randn(5, 3)
    y = grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    y.backward(upstream)
    assert torch.allclose(x.grad, -0.7 * upstream, rtol=0, atol=0)


def test_grl_module_coefficient_can_change_between_steps():
    layer = GradientReversal(coeff=2.0)
    x = torch.ones(3, requires_grad=True)
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -2.0))
    layer.coeff, x.grad = 0.0, None
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(3))


def test_domain_adversarial_loss_trains_discriminator_and_reverses_feature_gradient():
    torch.manual_seed(0)
    disc = torch.nn.Linear(4, 1)
    loss_fn = DomainAdversarialLoss(disc)
    f_s, f_t = torch.randn(6, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    loss_fn(f_s, f_t, coeff=0.5).backward()
    reversed_grad, disc_grad = f_s.grad.clone(), disc.weight.grad.clone()
    f_s.grad = None
    disc.zero_grad()
    loss_fn(f_s, f_t, coeff=0.0).backward()  # no reversal: the feature gradient vanishes
    assert torch.equal(f_s.grad, torch.zeros_like(f_s))
    assert torch.allclose(disc.weight.grad, disc_grad)  # the discriminator's own gradient is unscaled
    plain = torch.nn.functional.binary_cross_entropy_with_logits
    f_s2 = f_s.detach().clone().requires_grad_()
    d = disc(torch.cat([f_s2, f_t.detach()])).squeeze(1)
    (0.5 * (plain(d[:6], torch.ones(6)) + plain(d[6:], torch.zeros(5)))).backward()
    assert torch.allclose(reversed_grad, -0.5 * f_s2.grad, atol=1e-7)


def test_domain_adversarial_loss_of_an_uninformed_discriminator_is_log_2():
    disc = torch.nn.Linear(3, 1)
    torch.nn.init.zeros_(disc.weight)
    torch.nn.init.zeros_(disc.bias)
    loss = DomainAdversarialLoss(disc)(torch.randn(4, 3), torch.randn(7, 3))
    assert loss.item() == pytest.approx(math.log(2))


def test_mmd_is_near_zero_for_one_distribution_and_large_for_shifted_ones():
    g = torch.Generator().manual_seed(0)
    mmd = MultiKernelMMD()
    same = torch.stack([mmd(torch.randn(200, 5, generator=g), torch.randn(200, 5, generator=g)) for _ in range(5)])
    shifted = mmd(torch.randn(200, 5, generator=g), torch.randn(200, 5, generator=g) + 1.0)
    assert same.abs().max() < 0.01
    assert shifted > 0.1
    assert shifted > 20 * same.abs().max()


def test_mmd_is_unbiased_not_a_difference_of_means():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 2, generator=g)
    y = torch.randn(300, 2, generator=g) * 3.0  # same mean, different spread
    assert MultiKernelMMD()(x, y) > 0.05
    # unbiased: averaging over independent equal-distribution pairs gives ~0, including negative values
    values = torch.stack([MultiKernelMMD()(torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g))
                          for _ in range(200)])
    assert (values < 0).any()
    assert abs(values.mean()) < 0.01


def test_mmd_is_differentiable_and_its_gradient_reduces_it():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(64, 3, generator=g)
    y = (torch.randn(64, 3, generator=g) + 2.0).requires_grad_()
    mmd = MultiKernelMMD()
    before = mmd(x, y)
    before.backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with torch.no_grad():
        after = mmd(x, y - 5.0 * y.grad)
    assert after < before


def test_mmd_rejects_too_few_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        MultiKernelMMD()(torch.randn(1, 2), torch.randn(4, 2))
