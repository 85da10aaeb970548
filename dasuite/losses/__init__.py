"""Reusable domain-adaptation losses as plain ``torch.nn.Module``s, usable in any training loop."""

from dasuite.losses.domain_adversarial import DomainAdversarialLoss
from dasuite.losses.grl import GradientReversal, grad_reverse
from dasuite.losses.mmd import MultiKernelMMD

__all__ = ["DomainAdversarialLoss", "GradientReversal", "MultiKernelMMD", "grad_reverse"]
