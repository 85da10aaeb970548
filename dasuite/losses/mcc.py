"""Minimum class confusion, MCC (Jin et al., "Minimum Class Confusion for Versatile Domain
Adaptation", ECCV 2020).

On a target batch of N logits z and |C| classes:

    Ŷ = softmax(z / T)                                  (temperature scaling)
    W_i = N (1 + exp(-H(Ŷ_i))) / Σ_i' (1 + exp(-H(Ŷ_i')))   (certain predictions weigh more; no gradient)
    C = Ŷᵀ diag(W) Ŷ                                     (|C| × |C| class correlation)
    C̃_jj' = C_jj' / Σ_j'' C_j''j'                         (category normalisation)
    L_MCC = 1/|C| Σ_j Σ_{j'≠j} C̃_jj'

Minimising it discourages the classifier from splitting target samples between classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.losses.entropy import entropy


def class_confusion(probabilities: torch.Tensor) -> torch.Tensor:
    """L_MCC of a (N, C) probability matrix (the temperature already applied)."""
    n, num_classes = probabilities.shape
    weight = 1.0 + torch.exp(-entropy(probabilities.detach()))
    weight = n * weight / weight.sum()
    confusion = (probabilities * weight[:, None]).T @ probabilities
    confusion = confusion / confusion.sum(0, keepdim=True)
    return (confusion.sum() - confusion.trace()) / num_classes


class MinimumClassConfusionLoss(nn.Module):
    """``forward(logits)``: L_MCC of softmax(logits / temperature)."""

    def __init__(self, temperature: float = 2.5):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature={temperature} must be > 0.")
        self.temperature = temperature

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return class_confusion(F.softmax(logits / self.temperature, dim=1))
