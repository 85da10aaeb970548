"""Multi-kernel maximum mean discrepancy (Gretton et al., JMLR 2012; DAN, Long et al., ICML 2015).

Unbiased estimate of MMD² between samples X (m rows) and Y (n rows) under
k(a, b) = 1/K Σ_k exp(-||a - b||² / (c_k · σ²)):

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (n(n-1)) - 2 Σ_{i,j} k(x_i, y_j) / (mn)

σ² is the median squared distance between distinct points of the joint sample (the median
heuristic, not back-propagated through) and c_k the bandwidth multipliers. The estimate is
unbiased, so it can be slightly negative when the two distributions match.

:func:`multi_gaussian_kernel` and :func:`mmd_from_kernel` are the shared pieces; JAN
(:mod:`dasuite.losses.jan`) multiplies such kernels over several layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def check_multipliers(bandwidth_multipliers: Sequence[float]) -> list[float]:
    """The multipliers as floats; a ValueError unless they are a non-empty list of positive numbers."""
    try:
        multipliers = [float(c) for c in bandwidth_multipliers]
    except (TypeError, ValueError):
        raise ValueError(f"bandwidth_multipliers={bandwidth_multipliers!r} must be a list of positive numbers.") from None
    if not multipliers or min(multipliers) <= 0:
        raise ValueError(f"bandwidth_multipliers={multipliers} must be positive numbers.")
    return multipliers


def multi_gaussian_kernel(z: torch.Tensor, multipliers: torch.Tensor) -> torch.Tensor:
    """(N, N) kernel matrix of the rows of ``z`` (flattened): the mean over k of exp(-d² / (c_k σ²)).

    σ² is the median of the off-diagonal squared distances, detached (the median heuristic; the
    diagonal is masked with NaN rather than indexed out, which would wait for the GPU every step).
    """
    z = z.flatten(1)
    sq_norm = z.pow(2).sum(1)
    sq_dist = (sq_norm[:, None] + sq_norm[None, :] - 2 * z @ z.T).clamp_min(0)
    diagonal = torch.eye(len(z), dtype=torch.bool, device=z.device)
    median = sq_dist.detach().masked_fill(diagonal, float("nan")).nanmedian().clamp_min(1e-12)
    widths = multipliers.to(z.dtype) * median
    return torch.exp(-sq_dist.unsqueeze(0) / widths.view(-1, 1, 1)).mean(0)


def mmd_from_kernel(kernel: torch.Tensor, m: int, unbiased: bool = True) -> torch.Tensor:
    """MMD² from the joint kernel matrix whose first ``m`` rows are X and the rest Y.

    ``unbiased=False`` gives the V-statistic (diagonal included): >= 0, and exactly 0 when X and Y
    hold the same points.
    """
    n = len(kernel) - m
    k_xx, k_yy, k_xy = kernel[:m, :m], kernel[m:, m:], kernel[:m, m:]
    if not unbiased:
        return k_xx.mean() + k_yy.mean() - 2 * k_xy.mean()
    return ((k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
            + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
            - 2 * k_xy.mean())


class MultiKernelMMD(nn.Module):
    """MMD² with an equal-weight family of Gaussian kernels around the median distance.

    ``forward(x, y)`` takes two batches of features (any shape, flattened per sample).
    """

    def __init__(self, bandwidth_multipliers: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0)):
        super().__init__()
        self.register_buffer("multipliers", torch.tensor(check_multipliers(bandwidth_multipliers)),
                             persistent=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        m, n = len(x), len(y)
        if m < 2 or n < 2:
            raise ValueError(f"the unbiased MMD needs at least 2 samples per domain, got {m} and {n}.")
        return mmd_from_kernel(multi_gaussian_kernel(torch.cat([x.flatten(1), y.flatten(1)]), self.multipliers), m)
