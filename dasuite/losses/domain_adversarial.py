"""DANN's domain adversarial loss (Ganin et al., JMLR 2016).

    L_d = 1/2 [ BCE(D(R_λ(f_s)), 1) + BCE(D(R_λ(f_t)), 0) ]

with D a domain discriminator and R_λ gradient reversal with coefficient λ: minimising L_d trains
D to separate the domains and, through the reversed gradient, the features f to confuse it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.losses.grl import grad_reverse


class DomainAdversarialLoss(nn.Module):
    """Wraps a discriminator that maps features to one logit (source > 0)."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
        logits = self.discriminator(grad_reverse(torch.cat([f_s, f_t]), coeff)).squeeze(1)
        d_s, d_t = logits[: len(f_s)], logits[len(f_s):]
        return 0.5 * (F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
                      + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t)))
