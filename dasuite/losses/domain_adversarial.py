"""DANN's domain adversarial loss (Ganin et al., JMLR 2016).

    L_d = 1/2 [ BCE(D(R_λ(f_s)), 1) + BCE(D(R_λ(f_t)), 0) ]      (reduction "mean")
    L_d =       BCE(D(R_λ(f_s)), 1) + BCE(D(R_λ(f_t)), 0)        (reduction "sum")

with D a domain discriminator, R_λ gradient reversal with coefficient λ and each BCE the mean over its
domain's batch: minimising L_d trains D to separate the domains and, through the reversed gradient,
the features f to confuse it. "mean" is Transfer-Learning-Library's ``DomainAdversarialLoss``; "sum" is
ADAPT's DANN and the DANN authors' code, where the features' adversarial term is twice as strong for
the same λ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.losses.grl import grad_reverse

#: How the two domains' cross-entropies are combined (see the module docstring).
REDUCTIONS = ("mean", "sum")


class DomainAdversarialLoss(nn.Module):
    """Wraps a discriminator that maps features to one logit (source > 0)."""

    def __init__(self, discriminator: nn.Module, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction={reduction!r} must be one of {', '.join(REDUCTIONS)}.")
        self.discriminator = discriminator
        self.reduction = reduction

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
        logits = self.discriminator(grad_reverse(torch.cat([f_s, f_t]), coeff)).squeeze(1)
        d_s, d_t = logits[: len(f_s)], logits[len(f_s):]
        total = (F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
                 + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t)))
        return total if self.reduction == "sum" else 0.5 * total
