"""MDD: margin disparity discrepancy (Zhang, Liu, Long, Jordan, "Bridging Theory and Algorithm for Domain
Adaptation", ICML 2019; official code thuml/MDD, and Transfer-Learning-Library's ``tllib/alignment/mdd.py``).

An adversarial classifier head, the same shape as the main head, sits on the features behind a
gradient reversal layer. With D_γ the margin disparity discrepancy (:class:`dasuite.losses.MarginDisparityDiscrepancy`),
the paper's margin γ being ``method.margin``:

    L = CE(h(f_s), y_s) − trade_off · D_γ(h(f_s), h'(R_λ(f_s)), h(f_t), h'(R_λ(f_t)))

One backward pass trains h' to maximise D_γ and, reversed, the features to minimise it; the main
head only sees the cross-entropy (its predictions enter D_γ through argmax). The reversal weight
warms up over steps i as in the official code: λ_i = reversal_weight · (2 / (1 + exp(−i / N)) − 1),
N = ``warmup_steps`` (or over progress p with ``method.gamma`` when ``warmup_steps`` is null; both
null: λ = reversal_weight from the first step). ``method.gamma`` is that ramp's steepness, the key every
gradient-reversal method shares: it is not the paper's margin γ, which is ``method.margin``.
Both heads are ReLU MLPs with dropout ``head_dropout`` after each hidden layer when
``method.head_hidden`` is set (the official heads: one hidden layer as wide as the bottleneck),
initialised as the official code does (weights N(0, 0.01), biases 0). The backbone's bottleneck, when it
has one, takes the form ``bottleneck`` (:mod:`dasuite.models.bottlenecks`; TLL's MDD: Linear-BN-ReLU-Dropout(0.5))
and its Linear map TLL's initialisation, weights N(0, 0.005) and biases 0.1 (thuml/Transfer-Learning-Library at
c4aa59eb, ``tllib/alignment/mdd.py`` ``ImageClassifier``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dasuite.errors import ConfigError, check_number
from dasuite.losses import MarginDisparityDiscrepancy, grad_reverse, reversal_coeff
from dasuite.methods.base import Batch, Method, StepContext, check_steps, check_trade_off
from dasuite.models.bottlenecks import use_bottleneck_form


def mdd_head(in_features: int, hidden: Sequence[int], out_features: int, dropout: float) -> nn.Module:
    """Linear-ReLU-Dropout per hidden size, then Linear; weights N(0, 0.01), biases 0 (the official init)."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, out_features))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


class MDD(Method):
    """Source cross-entropy + margin disparity discrepancy against an adversarial head."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, margin: float = 4.0,
                 reversal_weight: float = 0.1, warmup_steps: int | None = 1000, gamma: float | None = 10.0,
                 head_dropout: float = 0.5, bottleneck: str = "bn_dropout", label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        use_bottleneck_form(backbone, bottleneck)
        if getattr(backbone, "bottleneck", None) is not None:
            nn.init.normal_(backbone.bottleneck[0].weight, 0.0, 0.005)
            nn.init.constant_(backbone.bottleneck[0].bias, 0.1)
        self.trade_off = check_trade_off(trade_off)
        self.reversal_weight = check_number("method.reversal_weight", reversal_weight, minimum=0,
                                            hint=" (the final gradient reversal weight)")
        self.warmup_steps = check_steps("warmup_steps", warmup_steps)
        self.gamma = None if gamma is None else check_number(
            "method.gamma", gamma, minimum=0, hint=" (the steepness of the reversal ramp; MDD's margin γ is method.margin)")
        if not 0 <= check_number("method.head_dropout", head_dropout) < 1:
            raise ConfigError(f"method.head_dropout={head_dropout} must lie in [0, 1).")
        self.head_dropout, self.num_classes = head_dropout, num_classes
        self.discrepancy = MarginDisparityDiscrepancy(check_number("method.margin", margin, minimum=0,
                                                                   hint=" (the paper's margin γ of MDD; not method.gamma, the reversal ramp)"))
        self.set_head([])

    def set_head(self, hidden: Sequence[int]) -> None:
        """The main and the adversarial head, both :func:`mdd_head` with hidden sizes ``hidden``."""
        width = self.backbone.out_features
        self.head, self.adv_head = (mdd_head(width, hidden, self.num_classes, self.head_dropout) for _ in range(2))

    def reversal_coeff(self, progress: float, step: int = 0) -> float:
        """λ at this point of training, rising from 0 to (almost) ``reversal_weight``."""
        return reversal_coeff(self.reversal_weight, progress, step, self.gamma, self.warmup_steps)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        logits_s, logits_t = self.head(f_s), self.head(f_t)
        adv = self.adv_head(grad_reverse(torch.cat([f_s, f_t]), self.reversal_coeff(ctx.progress, ctx.step)))
        adv_s, adv_t = adv[: len(f_s)], adv[len(f_s):]
        return {"cls": self.classification_loss(logits_s, batch.ys),
                "mdd": -self.trade_off * self.discrepancy(logits_s, adv_s, logits_t, adv_t)}
