"""MMD alignment (DAN, Long et al., ICML 2015): penalise the multi-kernel MMD² between the
source and target feature distributions, weighted by ``trade_off``."""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import ConfigError
from dasuite.losses import MultiKernelMMD
from dasuite.methods.base import Batch, Method, StepContext, check_trade_off


class MMD(Method):
    """Source cross-entropy + trade_off · MMD²(source features, target features)."""

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0,
                 bandwidth_multipliers: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
                 label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        try:
            self.mmd = MultiKernelMMD(bandwidth_multipliers)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"method.bandwidth_multipliers={list(bandwidth_multipliers)}: {error}") from None

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        return {
            "cls": self.classification_loss(self.head(f_s), batch.ys),
            "mmd": self.trade_off * self.mmd(f_s, f_t),
        }
