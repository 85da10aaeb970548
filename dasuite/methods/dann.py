"""DANN: domain-adversarial training of neural networks (Ganin et al., JMLR 2016).

A discriminator learns to tell source from target features; a gradient reversal layer between
it and the backbone turns its gradient into a confusion signal for the features. The reversal
coefficient ramps up with training progress p as in the paper:

    λ_p = trade_off · (2 / (1 + exp(-γ p)) - 1)

or, with ``warmup_steps`` N, the same curve over steps i, λ_i = trade_off · (2 / (1 + exp(-i / N)) - 1)
(Transfer-Learning-Library's warm-start reversal, whose digits and Office recipes use N = 1000).
"""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import check_number
from dasuite.losses import DomainAdversarialLoss, reversal_coeff
from dasuite.methods.base import Batch, Method, StepContext, check_flag, check_sizes, check_steps, check_trade_off
from dasuite.models.heads import domain_discriminator


class DANN(Method):
    """Source cross-entropy + domain adversarial loss through gradient reversal."""

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, gamma: float | None = 10.0,
                 discriminator_hidden: Sequence[int] = (256, 256), label_smoothing: float = 0.0,
                 warmup_steps: int | None = None, discriminator_bn: bool = False):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.gamma = None if gamma is None else check_number("method.gamma", gamma, minimum=0)
        self.warmup_steps = check_steps("warmup_steps", warmup_steps)
        self.domain_loss = DomainAdversarialLoss(
            domain_discriminator(backbone.out_features, check_sizes("discriminator_hidden", discriminator_hidden),
                                 check_flag("discriminator_bn", discriminator_bn)))

    def reversal_coeff(self, progress: float, step: int = 0) -> float:
        """λ at this point of training, rising from 0 to (almost) ``trade_off``."""
        return reversal_coeff(self.trade_off, progress, step, self.gamma, self.warmup_steps)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        return {
            "cls": self.classification_loss(self.head(f_s), batch.ys),
            "domain": self.domain_loss(f_s, f_t, self.reversal_coeff(ctx.progress, ctx.step)),
        }
