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
    assert abs(values.mean()) < 0.05  # five kernels summed: up to 5 on the diagonal


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


# ----- the catalogue's losses: hand-computed cases -------------------------------------------

from dasuite.losses import (  # noqa: E402
    CORALLoss,
    ConditionalDomainAdversarialLoss,
    ConfidentPseudoLabelLoss,
    EntropyLoss,
    InformationMaximizationLoss,
    JointMMD,
    MinimumClassConfusionLoss,
    MultilinearMap,
    class_confusion,
    covariance,
    multilinear_map,
    progressive_coeff,
)


def test_progressive_coeff_is_dann_schedule():
    assert progressive_coeff(0.0) == 0.0
    assert progressive_coeff(0.5, gamma=10) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert progressive_coeff(1.0, gamma=10) == pytest.approx(0.99991, abs=1e-5)


def test_coral_on_tiny_matrices():
    # source varies along x only, target along y only: covariances diag(2, 0) and diag(0, 2)
    f_s = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    f_t = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    assert torch.equal(covariance(f_s), torch.tensor([[2.0, 0.0], [0.0, 0.0]]))
    # ||diag(2, -2)||_F^2 / (4 d^2) = 8 / 16
    assert CORALLoss()(f_s, f_t).item() == pytest.approx(0.5)


def test_coral_matches_torch_cov_ignores_translation_and_has_gradients():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 3, generator=g), torch.randn(15, 3, generator=g) * 2
    assert torch.allclose(covariance(x), torch.cov(x.T), atol=1e-6)
    assert CORALLoss()(x, x + 5.0).item() == pytest.approx(0.0, abs=1e-6)
    expected = (torch.cov(x.T) - torch.cov(y.T)).pow(2).sum() / 36
    y.requires_grad_()
    loss = CORALLoss()(x, y)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert y.grad.abs().sum() > 0


def test_cdan_multilinear_map_shape_and_values():
    f = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    g = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    out = multilinear_map(f, g)
    assert out.shape == (2, 6)  # d * C
    assert torch.equal(out, torch.tensor([[0.25, 0.5, 0.75, 0.75, 1.5, 2.25], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]]))
    exact = MultilinearMap(3, 2)
    assert not exact.randomized and exact.out_features == 6 and torch.equal(exact(f, g), out)


def test_cdan_randomized_map_above_the_threshold_preserves_inner_products():
    torch.manual_seed(0)
    small = MultilinearMap(64, 2, max_dim=4096)
    large = MultilinearMap(500, 10, max_dim=4096, randomized_dim=1024)  # 5000 > 4096
    assert not small.randomized and small.out_features == 128
    assert large.randomized and large.out_features == 1024
    assert {"random_f", "random_g"} <= set(large.state_dict())  # fixed, saved, not trained
    assert not any(p.requires_grad for p in large.parameters())
    f, g = torch.randn(4, 500), torch.softmax(torch.randn(4, 10), dim=1)
    h = large(f, g)
    assert h.shape == (4, 1024) and torch.equal(h, large(f, g))
    # E[<T(a), T(b)>] = <f_a, f_b> <g_a, g_b> = <f_a ⊗ g_a, f_b ⊗ g_b>: check it on average
    big = MultilinearMap(20, 3, max_dim=0, randomized_dim=100_000)
    f, g = torch.randn(4, 20), torch.softmax(torch.randn(4, 3), dim=1)
    exact, approx = multilinear_map(f, g), big(f, g)
    assert torch.allclose(approx @ approx.T, exact @ exact.T, rtol=0.03, atol=0.15)


def test_cdan_loss_of_an_uninformed_discriminator_is_log_2_and_entropy_weights_are_applied():
    conditioning = MultilinearMap(3, 2)
    disc = torch.nn.Linear(conditioning.out_features, 1)
    torch.nn.init.zeros_(disc.weight)
    torch.nn.init.zeros_(disc.bias)
    f_s, f_t = torch.randn(4, 3), torch.randn(5, 3)
    logits_s, logits_t = torch.randn(4, 2), torch.randn(5, 2)
    for entropy_conditioning in (False, True):
        loss = ConditionalDomainAdversarialLoss(disc, conditioning, entropy_conditioning)(f_s, logits_s, f_t, logits_t)
        assert loss.item() == pytest.approx(math.log(2))  # every sample has BCE log 2 and weights average to 1
    # a bias-only discriminator (logit b for every sample): source BCE = softplus(-b), target = softplus(b)
    torch.nn.init.constant_(disc.bias, 1.0)
    logits_s = torch.tensor([[10.0, -10.0], [0.0, 0.0]])  # certain, uncertain
    logits_t = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    f_s, f_t = torch.randn(2, 3), torch.randn(2, 3)
    loss = ConditionalDomainAdversarialLoss(disc, conditioning, entropy_conditioning=True)(f_s, logits_s, f_t, logits_t)
    # source weights 1 + e^0 = 2 and 1 + e^-log2 = 1.5 (normalised within the domain); target ones are equal,
    # but each source/target BCE is the same constant, so the weights must only average correctly
    sp = torch.nn.functional.softplus
    expected = 0.5 * (sp(torch.tensor(-1.0)) + sp(torch.tensor(1.0)))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    # now a discriminator that tells the two source samples apart: the certain one weighs 2 / 3.5
    disc2 = torch.nn.Linear(conditioning.out_features, 1)
    torch.nn.init.zeros_(disc2.weight)
    torch.nn.init.zeros_(disc2.bias)
    with torch.no_grad():
        disc2.weight[0, 0] = 1.0  # logit = g_0 * f_0
    f_s = torch.tensor([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    f_t = torch.zeros(2, 3)
    loss = ConditionalDomainAdversarialLoss(disc2, conditioning, entropy_conditioning=True)(f_s, logits_s, f_t, logits_t)
    d_s = torch.tensor([2.0, 1.0])  # g_0 = 1 (certain) and 0.5 (uncertain)
    w_s = torch.tensor([2.0, 1.5]) / 3.5
    expected = 0.5 * ((w_s * sp(-d_s)).sum() + sp(torch.tensor(0.0)))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_cdan_loss_reverses_the_feature_gradient_and_detaches_predictions():
    torch.manual_seed(0)
    conditioning = MultilinearMap(3, 2)
    loss_fn = ConditionalDomainAdversarialLoss(torch.nn.Linear(6, 1), conditioning)
    f_s, f_t = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3)
    logits_s = torch.randn(4, 2, requires_grad=True)
    loss_fn(f_s, logits_s, f_t, torch.randn(4, 2), coeff=0.0).backward()
    assert torch.equal(f_s.grad, torch.zeros_like(f_s)) and logits_s.grad is None
    assert loss_fn.discriminator.weight.grad.abs().sum() > 0


def test_mcc_on_a_known_probability_matrix():
    # entropies 0 and log 2 -> weights 2 * [2, 1.5] / 3.5 = [8/7, 6/7]
    # C = 8/7 [[1, 0], [0, 0]] + 6/7 [[.25, .25], [.25, .25]] = [[9.5, 1.5], [1.5, 1.5]] / 7
    # column-normalised off-diagonal: 1.5/3 + 1.5/11 = 7/11, divided by |C| = 2 -> 7/22
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert class_confusion(p).item() == pytest.approx(7 / 22, abs=1e-4)
    assert class_confusion(torch.eye(3)).item() == pytest.approx(0.0, abs=1e-6)  # no confusion
    assert class_confusion(torch.full((5, 4), 0.25)).item() == pytest.approx(3 / 4)  # uniform: (C-1)/C


def test_mcc_applies_the_temperature_and_its_gradient_reduces_confusion():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], requires_grad=True)
    loss = MinimumClassConfusionLoss(temperature=2.0)(logits)
    assert loss.item() == pytest.approx(class_confusion(torch.softmax(logits.detach() / 2.0, 1)).item())
    loss.backward()
    with torch.no_grad():
        assert MinimumClassConfusionLoss(2.0)(logits - logits.grad) < loss
    with pytest.raises(ValueError, match="temperature"):
        MinimumClassConfusionLoss(temperature=0)


def test_jan_is_zero_for_identical_inputs_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    f, p = torch.randn(16, 8, generator=g), torch.softmax(torch.randn(16, 3, generator=g), 1)
    jmmd = JointMMD()
    assert jmmd([f, p], [f.clone(), p.clone()]).item() == pytest.approx(0.0, abs=1e-6)
    assert jmmd([f, p], [f + 1.0, p]).item() > 0.05


def test_jan_sees_the_joint_distribution_not_only_the_marginals():
    # same features and same output marginals in both domains, but the pairing is swapped
    x = torch.linspace(-2, 2, 40).unsqueeze(1)
    right, wrong = torch.nn.functional.one_hot((x[:, 0] > 0).long(), 2).float(), None
    wrong = right.flip(1)
    jmmd = JointMMD()
    one_layer = JointMMD([[0.25, 0.5, 1.0, 2.0, 4.0]])
    assert one_layer([x], [x]).item() == pytest.approx(0.0, abs=1e-6)
    assert JointMMD([[1.0]])([right], [wrong]).item() == pytest.approx(0.0, abs=1e-6)  # equal marginals
    assert jmmd([x, right], [x, wrong]).item() > 0.1


def test_jan_checks_its_layers():
    with pytest.raises(ValueError, match="2 layers"):
        JointMMD()([torch.randn(4, 2)], [torch.randn(4, 2)])
    with pytest.raises(ValueError, match="positive"):
        JointMMD([[0.0]])


def test_entropy_and_information_maximisation():
    uniform = torch.zeros(6, 4)
    assert EntropyLoss()(uniform).item() == pytest.approx(math.log(4), abs=1e-4)
    confident = torch.tensor([[20.0, 0.0], [0.0, 20.0]] * 3)  # certain and balanced: 0 - log 2
    assert InformationMaximizationLoss()(confident).item() == pytest.approx(-math.log(2), abs=1e-4)
    collapsed = torch.tensor([[20.0, 0.0]] * 6)  # certain but all one class: no diversity
    assert InformationMaximizationLoss()(collapsed).item() == pytest.approx(0.0, abs=1e-4)
    assert InformationMaximizationLoss()(uniform).item() == pytest.approx(0.0, abs=1e-4)  # log C - log C


def test_pseudo_label_loss_counts_only_confident_predictions():
    logits = torch.tensor([[math.log(19.0), 0.0], [math.log(1.5), 0.0]], requires_grad=True)  # p = .95 and .6
    loss = ConfidentPseudoLabelLoss(threshold=0.9)(logits)
    assert loss.item() == pytest.approx(-math.log(0.95) / 2, rel=1e-5)  # mean over the batch of 2
    loss.backward()
    assert torch.equal(logits.grad[1], torch.zeros(2))
    assert ConfidentPseudoLabelLoss(threshold=0.99)(logits).item() == 0.0
    with pytest.raises(ValueError, match="threshold"):
        ConfidentPseudoLabelLoss(threshold=1.5)
