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

Centroids, per epoch as in the paper: before each adaptation epoch (:meth:`Method.begin_epoch`),
the model, in evaluation mode, embeds the whole target set and the centroids are computed from
those features and predictions; each step labels its batch by the nearest centroid. The first
centroids therefore come from the source model; checkpoints keep the epoch's centroids, so a run
resumed mid-epoch labels with the same ones.

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
                 diversity_weight: float = 1.0, source_epochs: int | None = None, adapt_lr_mult: float = 0.1,
                 label_smoothing: float = 0.1):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.beta = check_number("method.beta", beta, minimum=0, hint=" (it weights the pseudo-label loss)")
        diversity_weight = check_number("method.diversity_weight", diversity_weight, minimum=0)
        self.source_epochs = check_epochs("source_epochs", source_epochs)
        self.adapt_lr_mult = check_number("method.adapt_lr_mult", adapt_lr_mult, minimum=0)
        self.information_maximization = InformationMaximizationLoss(diversity_weight)
        self.centroids: torch.Tensor | None = None

    def stages(self) -> list[Stage]:
        return [Stage("source", draws=("source",), epochs=self.source_epochs),
                Stage("adapt", draws=("target",))]

    def param_groups(self, stage: Stage):
        if stage.name == "source":
            return super().param_groups(stage)
        return {MAIN: [{"params": list(self.backbone.parameters()), "lr_mult": self.adapt_lr_mult}]}

    def training_step(self, batch: Batch, ctx: StepContext):
        if ctx.stage == "source":
            return {"cls": self.classification_loss(self.predict(batch.xs), batch.ys)}
        features = self.backbone(batch.xt)
        logits = self.frozen_head(features)
        terms = {"im": self.trade_off * self.information_maximization(logits)}
        if self.beta > 0:
            labels = nearest_centroid(features.detach(), self.centroids)
            terms["pseudo"] = self.beta * torch.nn.functional.cross_entropy(logits, labels)
        return terms

    def begin_epoch(self, stage: Stage, epoch: int, inputs) -> None:
        """SHOT's centroids from the current model's features and predictions on the whole target set."""
        if stage.name != "adapt" or self.beta == 0:
            return
        was_training = self.training
        self.eval()
        with torch.no_grad():
            features = [self.backbone(x) for x in inputs("target")]
            probabilities = [self.head(f).softmax(1) for f in features]
        self.train(was_training)
        self.centroids = class_centroids(torch.cat(features), torch.cat(probabilities))

    def get_extra_state(self) -> dict:
        """The epoch's centroids go into checkpoints, so a run resumed mid-epoch uses the same ones."""
        return {"centroids": self.centroids}

    def set_extra_state(self, state: dict) -> None:
        self.centroids = state["centroids"]
