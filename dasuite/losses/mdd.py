"""Margin disparity discrepancy for classification, MDD (Zhang, Liu, Long, Jordan, "Bridging Theory and
Algorithm for Domain Adaptation", ICML 2019; as in thuml/MDD and Transfer-Learning-Library's
``tllib/alignment/mdd.py``).

With y the main classifier's logits, y' an adversarial classifier's, h = argmax y (no gradient) and
σ the softmax, on a source and a target batch:

    D_γ = E_t[ log(1 − σ(y'_t)[h_t]) ] − γ · E_s[ CE(y'_s, h_s) ]

The adversarial classifier maximises D_γ (agree with h on the source, disagree on the target); the
features, through gradient reversal, minimise it. log(1 − p) is taken as log(min(1 − p + 10⁻⁶, 1)),
the official code's ``shift_log``, so a confident adversary does not blow the gradient up.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: the offset of the official code's shift_log
LOG_OFFSET = 1e-6


def source_disparity(logits: torch.Tensor, adv_logits: torch.Tensor) -> torch.Tensor:
    """Per sample CE(y', argmax y): how much the adversary disagrees with the main classifier."""
    return F.cross_entropy(adv_logits, logits.argmax(1), reduction="none")


def target_disparity(logits: torch.Tensor, adv_logits: torch.Tensor) -> torch.Tensor:
    """Per sample log(1 − σ(y')[argmax y]) (≤ 0; highest when the adversary disagrees)."""
    agreed = adv_logits.softmax(1).gather(1, logits.argmax(1, keepdim=True)).squeeze(1)
    return torch.log(torch.clamp(1.0 - agreed + LOG_OFFSET, max=1.0))


class MarginDisparityDiscrepancy(nn.Module):
    """D_γ from main and adversarial logits of a source and a target batch (batch means, margin γ)."""

    def __init__(self, margin: float = 4.0):
        super().__init__()
        self.margin = margin

    def forward(self, y_s: torch.Tensor, adv_s: torch.Tensor, y_t: torch.Tensor, adv_t: torch.Tensor) -> torch.Tensor:
        return target_disparity(y_t, adv_t).mean() - self.margin * source_disparity(y_s, adv_s).mean()
