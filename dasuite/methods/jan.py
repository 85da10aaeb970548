"""JAN: joint adaptation networks (Long et al., ICML 2017).

Adds trade_off · JMMD²((f_s, softmax(z_s)), (f_t, softmax(z_t))): the MMD of the joint
distribution of the features and the softmax outputs, under the product of a multi-kernel
Gaussian kernel on the features (median heuristic bandwidths times the multipliers) and, on the
outputs, one Gaussian kernel of fixed width ``output_sigma`` (Transfer-Learning-Library's jan.py:
σ = 0.92; null: the median heuristic times ``output_bandwidth_multipliers``, which pins a fresh
classifier's nearly uniform outputs together, see :mod:`dasuite.losses.jan`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number
from dasuite.losses import JointMMD
from dasuite.methods.base import Batch, Method, StepContext, check_trade_off


class JAN(Method):
    """Source cross-entropy + trade_off · JMMD² over (features, softmax outputs)."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0,
                 bandwidth_multipliers: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
                 output_bandwidth_multipliers: Sequence[float] = (1.0,), output_sigma: float | None = 0.92,
                 label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        layers = (("bandwidth_multipliers", bandwidth_multipliers),
                  ("output_bandwidth_multipliers", output_bandwidth_multipliers))
        for key, value in layers:
            try:
                JointMMD([value])
            except (TypeError, ValueError) as error:
                raise ConfigError(f"method.{key}={value!r}: {error}") from None
        if output_sigma is not None and not check_number("method.output_sigma", output_sigma) > 0:
            raise ConfigError(f"method.output_sigma={output_sigma} must be > 0, or null (the median heuristic).")
        self.jmmd = JointMMD([bandwidth_multipliers, output_bandwidth_multipliers], sigmas=[None, output_sigma])

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        logits_s, logits_t = self.head(f_s), self.head(f_t)
        jmmd = self.jmmd([f_s, F.softmax(logits_s, dim=1)], [f_t, F.softmax(logits_t, dim=1)])
        return {"cls": self.classification_loss(logits_s, batch.ys), "jmmd": self.trade_off * jmmd}
