"""Joint maximum mean discrepancy, JMMD (JAN: Long et al., "Deep Transfer Learning with Joint
Adaptation Networks", ICML 2017).

JAN aligns the *joint* distribution of several layers' activations, typically the features z¹
and the softmax outputs z² of a classifier, by taking the product of one kernel per layer:

    k(a, b) = Π_l k_l(a^l, b^l),   k_l = multi-kernel Gaussian of layer l (median heuristic)

    JMMD² = 1/m² Σ_{i,j} k(x_i, x_j) + 1/n² Σ_{i,j} k(y_i, y_j) - 2/(mn) Σ_{i,j} k(x_i, y_j)

This is the paper's quadratic empirical estimate (a V-statistic, diagonal included): it is >= 0
and exactly 0 when source and target hold the same points. The layer kernels are those of
:mod:`dasuite.losses.mmd`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dasuite.losses.mmd import check_multipliers, mmd_from_kernel, multi_gaussian_kernel


class JointMMD(nn.Module):
    """JMMD² between source and target activations of several layers.

    ``bandwidth_multipliers`` holds one list of multipliers per layer, e.g.
    ``[[0.25, 0.5, 1, 2, 4], [1.0]]`` for (features, softmax outputs). ``forward(xs, ys)`` takes two
    sequences of tensors, one per layer, source then target.
    """

    def __init__(self, bandwidth_multipliers: Sequence[Sequence[float]] = ((0.25, 0.5, 1.0, 2.0, 4.0), (1.0,))):
        super().__init__()
        layers = [check_multipliers(c) for c in bandwidth_multipliers]
        if not layers:
            raise ValueError("JointMMD needs the bandwidth multipliers of at least one layer.")
        for i, multipliers in enumerate(layers):
            self.register_buffer(f"multipliers{i}", torch.tensor(multipliers), persistent=False)
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
            layer = multi_gaussian_kernel(torch.cat([x.flatten(1), y.flatten(1)]), getattr(self, f"multipliers{i}"))
            kernel = layer if kernel is None else kernel * layer
        return mmd_from_kernel(kernel, m, unbiased=False)
