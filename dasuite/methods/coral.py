"""Deep CORAL: correlation alignment (Sun & Saenko, ECCV 2016 workshops).

Adds trade_off · ||C_S - C_T||²_F / (4d²), the distance between the source and target
covariances of the backbone features (``layer=features``, as in the issue and tllib) or of the
logits (``layer=logits``, the paper's choice of the last layer, fc8).
"""

from __future__ import annotations

from dasuite.errors import ConfigError
from dasuite.losses import CORALLoss
from dasuite.methods.base import Batch, Method, StepContext, check_trade_off

LAYERS = ("features", "logits")


class CORAL(Method):
    """Source cross-entropy + trade_off · CORAL(source, target)."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, layer: str = "features",
                 label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        if layer not in LAYERS:
            raise ConfigError(f"method.layer={layer!r} is not one of {', '.join(LAYERS)}.")
        self.layer = layer
        self.coral = CORALLoss()

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        logits_s = self.head(f_s)
        a_s, a_t = (f_s, f_t) if self.layer == "features" else (logits_s, self.head(f_t))
        return {"cls": self.classification_loss(logits_s, batch.ys), "coral": self.trade_off * self.coral(a_s, a_t)}
