"""Joint maximum mean discrepancy, JMMD (JAN: Long et al., "Deep Transfer Learning with Joint
Adaptation Networks", ICML 2017).

JAN aligns the *joint* distribution of several layers' activations, typically the features z¹
and the softmax outputs z² of a classifier, by taking the product of one kernel per layer:

    k(a, b) = Π_l k_l(a^l, b^l),   k_l = multi-kernel Gaussian of layer l (median heuristic),
                                    or exp(-||a^l - b^l||² / (2σ_l²)) for a layer given a fixed σ_l

    JMMD² = 1/m² Σ_{i,j} k(x_i, x_j) + 1/n² Σ_{i,j} k(y_i, y_j) - 2/(mn) Σ_{i,j} k(x_i, y_j)

This is the paper's quadratic empirical estimate (a V-statistic, diagonal included): it is >= 0
and exactly 0 when source and target hold the same points. The median-heuristic kernels are those of
:mod:`dasuite.losses.mmd`. A fixed σ is what Transfer-Learning-Library's JAN gives the softmax layer
(``examples/domain_adaptation/image_classification/jan.py``: ``GaussianKernel(sigma=0.92,
track_running_stats=False)``): a width that follows the outputs' own spread makes that factor blind to
their scale, and while the predictions are nearly uniform (a fresh classifier) it pulls them together
with a gradient that grows as 1/σ².
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dasuite.losses.mmd import check_multipliers, mmd_from_kernel, multi_gaussian_kernel


def _squared_distances(z: torch.Tensor) -> torch.Tensor:
    """(N, N) squared Euclidean distances between the rows of ``z`` (0 on the diagonal, finite gradients)."""
    sq_norm = z.pow(2).sum(1)
    return (sq_norm[:, None] + sq_norm[None, :] - 2 * z @ z.T).clamp_min(0)


class JointMMD(nn.Module):
    """JMMD² between source and target activations of several layers.

    ``bandwidth_multipliers`` holds one list of multipliers per layer, e.g.
    ``[[0.25, 0.5, 1, 2, 4], [1.0]]`` for (features, softmax outputs); ``sigmas``, one entry per layer
    (None for all), a fixed σ that replaces that layer's median-heuristic kernel (its multipliers are
    then unused). ``forward(xs, ys)`` takes two sequences of tensors, one per layer, source then target.
    """

    def __init__(self, bandwidth_multipliers: Sequence[Sequence[float]] = ((0.25, 0.5, 1.0, 2.0, 4.0), (1.0,)),
                 sigmas: Sequence[float | None] | None = None):
        super().__init__()
        layers = [check_multipliers(c) for c in bandwidth_multipliers]
        if not layers:
            raise ValueError("JointMMD needs the bandwidth multipliers of at least one layer.")
        sigmas = [None] * len(layers) if sigmas is None else list(sigmas)
        if len(sigmas) != len(layers) or any(s is not None and not s > 0 for s in sigmas):
            raise ValueError(f"sigmas={sigmas} must hold one positive number or None per layer ({len(layers)}).")
        for i, multipliers in enumerate(layers):
            self.register_buffer(f"multipliers{i}", torch.tensor(multipliers), persistent=False)
        self.sigmas = sigmas
        self.num_layers = len(layers)

    def forward(self, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(xs) != self.num_layers or len(ys) != self.num_layers:
            raise ValueError(f"JointMMD was built for {self.num_layers} layers, got {len(xs)} source and "
                             f"{len(ys)} target tensors.")
        m = len(xs[0])
        if any(len(x) != m for x in xs) or any(len(y) != len(ys[0]) for y in ys):
            raise ValueError("every layer must hold the same samples (one row per sample).")
        kernel = None
        for i, (x, y) in enumerate(zip(xs, ys)):
            z = torch.cat([x.flatten(1), y.flatten(1)])
            sigma = self.sigmas[i]
            layer = (multi_gaussian_kernel(z, getattr(self, f"multipliers{i}")) if sigma is None
                     else torch.exp(-_squared_distances(z) / (2 * sigma**2)))
            kernel = layer if kernel is None else kernel * layer
        return mmd_from_kernel(kernel, m, unbiased=False)
