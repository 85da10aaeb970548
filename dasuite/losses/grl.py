"""Gradient reversal layer (Ganin & Lempitsky, ICML 2015).

Forward: the identity. Backward: the incoming gradient times ``-coeff``. Placed between a feature
extractor and a domain discriminator, it lets one backward pass train the discriminator to tell
the domains apart while pushing the features to make that impossible.

:func:`progressive_coeff` is the paper's schedule for the reversal weight over training progress p;
:func:`warm_start_coeff` the same curve over a fixed number of steps (Transfer-Learning-Library's
``WarmStartGradientReverseLayer``), and :func:`reversal_coeff` picks one of them.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity on ``x`` whose gradient is multiplied by ``-coeff``."""
    return _GradReverse.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`; ``coeff`` may be changed between steps."""

    def __init__(self, coeff: float = 1.0):
        super().__init__()
        self.coeff = coeff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.coeff)


def progressive_coeff(progress: float, gamma: float | None = 10.0) -> float:
    """DANN's warm-up 2 / (1 + exp(-γ p)) - 1: 0 at p = 0, close to 1 at p = 1 (Ganin et al., JMLR 2016);
    1 throughout when ``gamma`` is None (no warm-up)."""
    if gamma is None:
        return 1.0
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def warm_start_coeff(step: int, warmup_steps: float) -> float:
    """2 / (1 + exp(-i / N)) - 1 at step i: ``WarmStartGradientReverseLayer(alpha=1, lo=0, hi=1, max_iters=N)``
    of Transfer-Learning-Library (``tllib/modules/grl.py``): about 0.46 at N steps, 0.96 at 4N."""
    return 2.0 / (1.0 + math.exp(-step / warmup_steps)) - 1.0


def reversal_coeff(trade_off: float, progress: float, step: int, gamma: float | None,
                   warmup_steps: int | None) -> float:
    """λ for a step: ``trade_off`` times the step-based warm start when ``warmup_steps`` is set, else the
    progress-based ramp of :func:`progressive_coeff` (constant when ``gamma`` is None)."""
    ramp = progressive_coeff(progress, gamma) if warmup_steps is None else warm_start_coeff(step, warmup_steps)
    return trade_off * ramp
