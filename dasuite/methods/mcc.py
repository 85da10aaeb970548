"""MCC: minimum class confusion (Jin et al., ECCV 2020).

Adds trade_off · L_MCC(target logits / T): the entropy-weighted, category-normalised confusion
between classes in the temperature-scaled target predictions (see
:class:`dasuite.losses.MinimumClassConfusionLoss`).
"""

from __future__ import annotations

from dasuite.errors import ConfigError, check_number
from dasuite.losses import MinimumClassConfusionLoss
from dasuite.methods.base import Batch, Method, StepContext, check_trade_off


class MCC(Method):
    """Source cross-entropy + trade_off · minimum class confusion on the target batch."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, temperature: float = 2.5,
                 label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        if not check_number("method.temperature", temperature) > 0:
            raise ConfigError(f"method.temperature={temperature} must be > 0.")
        self.mcc = MinimumClassConfusionLoss(temperature)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        return {"cls": self.classification_loss(self.head(f_s), batch.ys),
                "mcc": self.trade_off * self.mcc(self.head(f_t))}
