"""Multi-kernel maximum mean discrepancy (Gretton et al., JMLR 2012; DAN, Long et al., ICML 2015).

:class:`MultiKernelMMD` is Transfer-Learning-Library's MK-MMD (thuml/Transfer-Learning-Library at
c4aa59eb, ``tllib/alignment/dan.py`` ``MultipleKernelMaximumMeanDiscrepancy`` with the kernels of
``tllib/modules/kernels.py`` ``GaussianKernel``). The kernel is the **sum** of K Gaussian kernels,

    k(a, b) = Σ_k exp(-||a - b||² / (c_k · σ̄²)),   σ̄² = 1/N² Σ_{i,j} ||z_i - z_j||²

where σ̄² is the mean squared distance over all ordered pairs of the joint sample z = (x, y), diagonal
included (not back-propagated through), and c_k the bandwidth multipliers: TLL's
exp(-d² / (2 α_k σ̄²)) with α_k = 2^k, k = -3..1, is c = 2α = [0.25, 0.5, 1, 2, 4]. For X (m rows) and Y
(n rows), two estimators:

* ``quadratic`` (TLL's ``linear=False``, the class's default): the unbiased
  MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (n(n-1)) - 2 Σ_{i,j} k(x_i, y_j) / (mn),
  which can be slightly negative when the two distributions match. TLL adds the constant 2/(n-1) to its
  value (no gradient); it is left out here.
* ``linear`` (TLL's ``linear=True``, what its ``dan.py`` runs unless ``--non-linear``): Gretton's
  linear-time estimate over the chain of consecutive pairs, with i' = i + 1 mod p, p = min(m, n),
  MMD²_l = 1/p Σ_i [k(x_i, x_i') + k(y_i, y_i') - k(x_i, y_i') - k(x_i', y_i)]
  (TLL requires m = n; with m ≠ n the first p rows of each side are paired).

:func:`multi_gaussian_kernel` (an equal-weight *mean* of kernels around the *median* distance) and
:func:`mmd_from_kernel` are what JAN (:mod:`dasuite.losses.jan`) builds its product kernel from.
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


def squared_distances(z: torch.Tensor) -> torch.Tensor:
    """(N, N) squared Euclidean distances between the rows of ``z`` (N, d)."""
    sq_norm = z.pow(2).sum(1)
    return (sq_norm[:, None] + sq_norm[None, :] - 2 * z @ z.T).clamp_min(0)


def multi_gaussian_kernel(z: torch.Tensor, multipliers: torch.Tensor) -> torch.Tensor:
    """(N, N) kernel matrix of the rows of ``z`` (flattened): the mean over k of exp(-d² / (c_k σ²)).

    σ² is the median of the off-diagonal squared distances, detached (the median heuristic; the
    diagonal is masked with NaN rather than indexed out, which would wait for the GPU every step).
    """
    z = z.flatten(1)
    sq_dist = squared_distances(z)
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


#: The estimators of :class:`MultiKernelMMD`.
ESTIMATORS = ("quadratic", "linear")


def mean_squared_distance(z: torch.Tensor) -> torch.Tensor:
    """1/N² Σ_{i,j} ||z_i - z_j||² over the rows of ``z`` (diagonal included), as 2/N Σ_i ||z_i - z̄||²:
    TLL's bandwidth statistic, computed in O(N·d) without the N × N distance matrix."""
    return 2 * (z - z.mean(0)).pow(2).sum(1).mean()


def summed_gaussian_kernels(sq_dist: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Σ_k exp(-d² / w_k) of squared distances ``sq_dist`` (any shape) for the kernel widths ``widths``."""
    return torch.exp(-sq_dist.unsqueeze(-1) / widths).sum(-1)


class MultiKernelMMD(nn.Module):
    """MMD² under the sum of Gaussian kernels whose widths are multiples of the mean squared distance.

    ``forward(x, y)`` takes two batches of features (any shape, flattened per sample); ``estimator`` is
    ``quadratic`` (unbiased, O(N²)) or ``linear`` (O(N)).
    """

    def __init__(self, bandwidth_multipliers: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
                 estimator: str = "quadratic"):
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator={estimator!r} must be one of {', '.join(ESTIMATORS)}.")
        self.estimator = estimator
        self.register_buffer("multipliers", torch.tensor(check_multipliers(bandwidth_multipliers)),
                             persistent=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = x.flatten(1), y.flatten(1)
        m, n = len(x), len(y)
        if m < 2 or n < 2:
            raise ValueError(f"the MMD estimate needs at least 2 samples per domain, got {m} and {n}.")
        z = torch.cat([x, y])
        widths = self.multipliers.to(z.dtype) * mean_squared_distance(z.detach()).clamp_min(1e-12)
        if self.estimator == "linear":
            p = min(m, n)
            x, y = x[:p], y[:p]
            x_next, y_next = x.roll(-1, 0), y.roll(-1, 0)
            pairs = torch.stack([(x - x_next), (y - y_next), (x - y_next), (x_next - y)]).pow(2).sum(-1)
            k = summed_gaussian_kernels(pairs, widths)
            return (k[0] + k[1] - k[2] - k[3]).mean()
        return mmd_from_kernel(summed_gaussian_kernels(squared_distances(z), widths), m)
