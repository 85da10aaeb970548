"""Confidence-thresholded pseudo-labels (self-training: Lee, "Pseudo-Label", ICML 2013 workshop;
the thresholded form of Sohn et al., FixMatch, NeurIPS 2020).

For target logits z with p = softmax(z) (no gradient through p):

    L_PL = 1/N Σ_i 1[max_k p_ik >= τ] · CE(z_i, argmax_k p_ik)

The mean runs over the whole batch, so the term grows as more predictions pass the threshold τ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConfidentPseudoLabelLoss(nn.Module):
    """Cross-entropy towards the model's own confident predictions (those with max p >= ``threshold``)."""

    def __init__(self, threshold: float = 0.9):
        super().__init__()
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold={threshold} must lie in [0, 1].")
        self.threshold = threshold

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        confidence, pseudo_labels = F.softmax(logits.detach(), dim=1).max(1)
        mask = (confidence >= self.threshold).to(logits.dtype)
        return (F.cross_entropy(logits, pseudo_labels, reduction="none") * mask).mean()
