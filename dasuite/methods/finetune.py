"""Fine-tuning: supervised adaptation with a few target labels.

Stage ``source`` trains backbone and head on the labeled source; stage ``target`` then trains on
the k labeled target samples per class, with the backbone at a reduced learning rate or frozen
(``freeze_backbone=true``: only the head learns, the classic linear-probe recipe).
"""

from __future__ import annotations

import torch

from dasuite.errors import ConfigError
from dasuite.methods.base import Batch, Method, Stage, StepContext


class FineTune(Method):
    """Source pretraining, then cross-entropy on the labeled target samples."""

    requires_target_labels = True

    def __init__(self, backbone, num_classes: int, target_epochs: int = 50, freeze_backbone: bool = False,
                 backbone_lr_mult: float = 0.1, label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        if target_epochs < 1:
            raise ConfigError(f"method.target_epochs={target_epochs} must be >= 1.")
        if backbone_lr_mult < 0:
            raise ConfigError(f"method.backbone_lr_mult={backbone_lr_mult} must be >= 0.")
        self.target_epochs = target_epochs
        self.freeze_backbone = freeze_backbone
        self.backbone_lr_mult = backbone_lr_mult

    def stages(self) -> list[Stage]:
        return [Stage("source", draws=("source",)),
                Stage("target", draws=("target_labeled",), epochs=self.target_epochs)]

    def param_groups(self, stage: Stage):
        if stage.name == "source":
            return super().param_groups(stage)
        head = {"params": list(self.head.parameters())}
        if self.freeze_backbone:
            return {"main": [head]}
        return {"main": [head, {"params": list(self.backbone.parameters()), "lr_mult": self.backbone_lr_mult}]}

    def training_step(self, batch: Batch, ctx: StepContext):
        if ctx.stage == "source":
            return {"cls": self.classification_loss(self.predict(batch.xs), batch.ys)}
        with torch.set_grad_enabled(not self.freeze_backbone):
            features = self.backbone(batch.xl)
        return {"cls": self.classification_loss(self.head(features), batch.yl)}
