"""CORAL loss (Deep CORAL: Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain
Adaptation", ECCV 2016 workshops).

With C_S and C_T the (unbiased) covariance matrices of the d-dimensional source and target
activations,

    C = 1/(n-1) (XᵀX - (1ᵀX)ᵀ(1ᵀX) / n)
    L_CORAL = ||C_S - C_T||²_F / (4 d²)
"""

from __future__ import annotations

import torch
from torch import nn


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Unbiased (d, d) covariance of the rows of ``x`` (flattened per sample)."""
    x = x.flatten(1)
    centred = x - x.mean(0, keepdim=True)
    return centred.T @ centred / (len(x) - 1)


class CORALLoss(nn.Module):
    """Squared Frobenius distance between the source and target covariances, divided by 4d²."""

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        if len(f_s) < 2 or len(f_t) < 2:
            raise ValueError(f"CORAL needs at least 2 samples per domain, got {len(f_s)} and {len(f_t)}.")
        d = f_s.flatten(1).shape[1]
        return (covariance(f_s) - covariance(f_t)).pow(2).sum() / (4 * d * d)
