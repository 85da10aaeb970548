"""Prediction entropy and information maximisation.

* Entropy minimisation on unlabeled target data (Grandvalet & Bengio, NIPS 2004):
  H(p) = -Σ_k p_k log p_k, averaged over the batch.
* Information maximisation, IM (as in SHOT: Liang et al., "Do We Really Need to Access the Source
  Data?", ICML 2020): make each prediction confident and the predictions diverse as a whole,

      L_IM = 1/N Σ_i H(p_i) - w · H(p̄),   p̄ = 1/N Σ_i p_i   (w = 1 in the paper)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5


def entropy(probabilities: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Per-row entropy (natural log) of a (N, C) probability matrix; a (C,) vector gives a scalar."""
    return -(probabilities * torch.log(probabilities + eps)).sum(-1)


class EntropyLoss(nn.Module):
    """Mean entropy of softmax(logits): minimising it makes predictions confident."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return entropy(F.softmax(logits, dim=1)).mean()


class InformationMaximizationLoss(nn.Module):
    """Mean per-sample entropy minus ``diversity_weight`` times the entropy of the mean prediction."""

    def __init__(self, diversity_weight: float = 1.0):
        super().__init__()
        self.diversity_weight = diversity_weight

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        p = F.softmax(logits, dim=1)
        return entropy(p).mean() - self.diversity_weight * entropy(p.mean(0))
