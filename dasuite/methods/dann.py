"""DANN: domain-adversarial training of neural networks (Ganin et al., JMLR 2016).

A discriminator learns to tell source from target features; a gradient reversal layer between
it and the backbone turns its gradient into a confusion signal for the features. The reversal
coefficient ramps up with training progress p as in the paper:

    λ_p = trade_off · (2 / (1 + exp(-γ p)) - 1)

or, with ``warmup_steps`` N, the same curve over steps i, λ_i = trade_off · (2 / (1 + exp(-i / N)) - 1)
(Transfer-Learning-Library's warm-start reversal, whose digits and Office recipes use N = 1000).

How strong the adversarial term is for a given λ, as the sources differ:

* ``domain_reduction``: the discriminator's loss is ½(BCE_s + BCE_t) (``mean``, Transfer-Learning-
  Library) or BCE_s + BCE_t (``sum``, ADAPT's ``DANN`` and the DANN authors' code), so the features'
  reversed gradient is λ·½ or λ times the discriminator's.
* ``discriminator_trade_off``: false (the reversal layer's convention) trains the discriminator on its
  loss at weight 1 and scales only the gradient reaching the features by λ_p; true scales the
  discriminator's own loss by λ_p as well (the DANN authors' ``DANN.py``: the domain regressor's SGD
  update is multiplied by ``lambda_adapt``), i.e. the loss λ_p·L_d behind a reversal of weight 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import ConfigError, check_number
from dasuite.losses import DomainAdversarialLoss, reversal_coeff
from dasuite.losses.domain_adversarial import REDUCTIONS
from dasuite.methods.base import Batch, Method, StepContext, check_flag, check_sizes, check_steps, check_trade_off
from dasuite.models.heads import domain_discriminator


class DANN(Method):
    """Source cross-entropy + domain adversarial loss through gradient reversal."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, gamma: float | None = 10.0,
                 discriminator_hidden: Sequence[int] = (256, 256), label_smoothing: float = 0.0,
                 warmup_steps: int | None = None, discriminator_bn: bool = False,
                 domain_reduction: str = "mean", discriminator_trade_off: bool = False):
        super().__init__(backbone, num_classes, label_smoothing)
        if domain_reduction not in REDUCTIONS:
            raise ConfigError(f"method.domain_reduction={domain_reduction!r} is not one of {', '.join(REDUCTIONS)} "
                              "(mean: 1/2 (BCE_s + BCE_t), Transfer-Learning-Library; sum: BCE_s + BCE_t, ADAPT).")
        self.discriminator_trade_off = check_flag("discriminator_trade_off", discriminator_trade_off)
        self.trade_off = check_trade_off(trade_off)
        self.gamma = None if gamma is None else check_number("method.gamma", gamma, minimum=0)
        self.warmup_steps = check_steps("warmup_steps", warmup_steps)
        self.domain_loss = DomainAdversarialLoss(
            domain_discriminator(backbone.out_features, check_sizes("discriminator_hidden", discriminator_hidden),
                                 check_flag("discriminator_bn", discriminator_bn)), domain_reduction)

    def reversal_coeff(self, progress: float, step: int = 0) -> float:
        """λ at this point of training, rising from 0 to (almost) ``trade_off``."""
        return reversal_coeff(self.trade_off, progress, step, self.gamma, self.warmup_steps)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        coeff = self.reversal_coeff(ctx.progress, ctx.step)
        domain = (coeff * self.domain_loss(f_s, f_t, 1.0) if self.discriminator_trade_off
                  else self.domain_loss(f_s, f_t, coeff))
        return {"cls": self.classification_loss(self.head(f_s), batch.ys), "domain": domain}
