"""DANN: domain-adversarial training of neural networks (Ganin et al., JMLR 2016).

A discriminator learns to tell source from target features; a gradient reversal layer between
it and the backbone turns its gradient into a confusion signal for the features. The reversal
coefficient ramps up with training progress p as in the paper:

    λ_p = trade_off · (2 / (1 + exp(-γ p)) - 1)
"""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import check_number
from dasuite.losses import DomainAdversarialLoss, progressive_coeff
from dasuite.methods.base import Batch, Method, StepContext, check_sizes, check_trade_off
from dasuite.models.heads import domain_discriminator


class DANN(Method):
    """Source cross-entropy + domain adversarial loss through gradient reversal."""

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, gamma: float = 10.0,
                 discriminator_hidden: Sequence[int] = (256, 256), label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.gamma = check_number("method.gamma", gamma, minimum=0)
        self.domain_loss = DomainAdversarialLoss(
            domain_discriminator(backbone.out_features, check_sizes("discriminator_hidden", discriminator_hidden)))

    def reversal_coeff(self, progress: float) -> float:
        """λ_p, rising from 0 to (almost) ``trade_off`` over training."""
        return self.trade_off * progressive_coeff(progress, self.gamma)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        return {
            "cls": self.classification_loss(self.head(f_s), batch.ys),
            "domain": self.domain_loss(f_s, f_t, self.reversal_coeff(ctx.progress)),
        }
