"""SHOT: source hypothesis transfer (Liang et al., "Do We Really Need to Access the Source Data?
Source Hypothesis Transfer for Unsupervised Domain Adaptation", ICML 2020). Source-free.

1. ``source``: backbone and classifier head learn on labeled source only (label smoothing 0.1 by
   default, as in the paper).
2. ``adapt``: draws target data only. The head (the source hypothesis) is frozen; the backbone
   learns with

       L = trade_off · L_IM + β · CE(logits, ŷ)
       L_IM = 1/N Σ_i H(p_i) - diversity_weight · H(p̄)        (information maximisation)

   where ŷ are self-supervised pseudo-labels: the nearest of SHOT's class centroids in cosine
   distance (:func:`dasuite.losses.class_centroids`: probability-weighted centroids, then one
   refinement with hard labels).

Centroids, per epoch as in the paper, without a trainer hook: the target features and
probabilities of every step are banked (detached), and when ``ctx.epoch`` changes the centroids
are recomputed from the previous epoch's bank, i.e. from one full pass over the target set (an
adaptation epoch is one pass over it). During the first adaptation epoch, before a bank exists,
each batch's pseudo-labels come from centroids of that batch. The bank is in memory only: a
resumed run restarts with that first-epoch rule.

Not reproduced: the paper's weight-normalised classifier and its bottleneck (use
``backbone.bottleneck_dim`` for one).
"""

from __future__ import annotations

import torch

from dasuite.errors import check_number
from dasuite.losses import InformationMaximizationLoss, class_centroids, nearest_centroid
from dasuite.methods.base import MAIN, Batch, Method, Stage, StepContext, check_epochs, check_trade_off


class SHOT(Method):
    """Source training, then target-only adaptation of the backbone against the frozen head."""

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, beta: float = 0.3,
                 diversity_weight: float = 1.0, source_epochs: int | None = None, label_smoothing: float = 0.1):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.beta = check_number("method.beta", beta, minimum=0, hint=" (it weights the pseudo-label loss)")
        diversity_weight = check_number("method.diversity_weight", diversity_weight, minimum=0)
        self.source_epochs = check_epochs("source_epochs", source_epochs)
        self.information_maximization = InformationMaximizationLoss(diversity_weight)
        self._bank: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._bank_epoch: int | None = None
        self.centroids: torch.Tensor | None = None

    def stages(self) -> list[Stage]:
        return [Stage("source", draws=("source",), epochs=self.source_epochs),
                Stage("adapt", draws=("target",))]

    def param_groups(self, stage: Stage):
        if stage.name == "source":
            return super().param_groups(stage)
        return {MAIN: [{"params": list(self.backbone.parameters())}]}

    def training_step(self, batch: Batch, ctx: StepContext):
        if ctx.stage == "source":
            return {"cls": self.classification_loss(self.predict(batch.xs), batch.ys)}
        features = self.backbone(batch.xt)
        logits = self.frozen_head(features)
        terms = {"im": self.trade_off * self.information_maximization(logits)}
        if self.beta > 0:
            labels = self.pseudo_labels(features.detach(), logits.detach().softmax(1), ctx.epoch)
            terms["pseudo"] = self.beta * torch.nn.functional.cross_entropy(logits, labels)
        return terms

    def pseudo_labels(self, features: torch.Tensor, probabilities: torch.Tensor, epoch: int) -> torch.Tensor:
        """Nearest-centroid labels for this batch; centroids refresh from the bank when the epoch changes."""
        if epoch != self._bank_epoch:
            if self._bank:
                self.centroids = class_centroids(torch.cat([f for f, _ in self._bank]),
                                                 torch.cat([p for _, p in self._bank]))
            self._bank, self._bank_epoch = [], epoch
        self._bank.append((features, probabilities))
        centroids = self.centroids if self.centroids is not None else class_centroids(features, probabilities)
        return nearest_centroid(features, centroids)
