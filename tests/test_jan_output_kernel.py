"""JAN's softmax-output kernel: a fixed width σ (Transfer-Learning-Library's 0.92) instead of the median heuristic,
which is blind to the outputs' scale and pins a fresh classifier's nearly uniform outputs together."""

import pytest
import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError
from dasuite.losses import JointMMD
from dasuite.losses.mmd import mmd_from_kernel, multi_gaussian_kernel
from dasuite.methods.jan import JAN
from dasuite.models.backbones import MLP


def test_a_fixed_sigma_layer_is_one_gaussian_of_that_width():
    g = torch.Generator().manual_seed(0)
    f_s, f_t = torch.randn(6, 3, generator=g), torch.randn(5, 3, generator=g) + 0.5
    p_s, p_t = torch.rand(6, 2, generator=g), torch.rand(5, 2, generator=g)
    p = torch.cat([p_s, p_t])
    expected = mmd_from_kernel(multi_gaussian_kernel(torch.cat([f_s, f_t]), torch.tensor([0.5, 1.0]))
                               * torch.exp(-torch.cdist(p, p).pow(2) / (2 * 0.92**2)), 6, unbiased=False)
    got = JointMMD([[0.5, 1.0], [1.0]], sigmas=[None, 0.92])([f_s, p_s], [f_t, p_t])
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def _logit_gradient(sigmas, spread):
    """|∂JMMD/∂logits| for outputs of the given spread around uniform (features fixed)."""
    g = torch.Generator().manual_seed(1)
    features = torch.randn(16, 4, generator=g)
    logits = (spread * torch.randn(16, 2, generator=g)).requires_grad_()
    p = F.softmax(logits, 1)
    jmmd = JointMMD([[0.25, 0.5, 1.0, 2.0, 4.0], [1.0]], sigmas=sigmas)
    jmmd([features[:8], p[:8]], [features[8:], p[8:]]).backward()
    return logits.grad.norm().item()


def test_the_median_width_pulls_nearly_uniform_outputs_ever_harder_and_the_fixed_width_does_not():
    median = [_logit_gradient(None, s) for s in (1e-1, 1e-2, 1e-3)]
    fixed = [_logit_gradient([None, 0.92], s) for s in (1e-1, 1e-2, 1e-3)]
    assert median[2] > 50 * median[0]  # grows as the outputs get closer: ~1 / spread
    assert fixed[2] < fixed[0] and fixed[2] < 1e-3 * median[2]


def test_jan_uses_the_fixed_output_width_by_default_and_refuses_a_non_positive_one():
    assert JAN(MLP((2,), [4]), 2).jmmd.sigmas == [None, 0.92]
    assert JAN(MLP((2,), [4]), 2, output_sigma=None).jmmd.sigmas == [None, None]
    with pytest.raises(ConfigError, match="method.output_sigma=0 must be > 0"):
        JAN(MLP((2,), [4]), 2, output_sigma=0)
