"""SHOT: source hypothesis transfer (Liang et al., "Do We Really Need to Access the Source Data?
Source Hypothesis Transfer for Unsupervised Domain Adaptation", ICML 2020). Source-free.

1. ``source``: backbone and classifier head learn on labeled source only (label smoothing 0.1 by
   default, as in the paper).
2. ``adapt``: draws target data only. The head (the source hypothesis) is frozen; the backbone
   learns with

       L = trade_off · L_IM + β · CE(logits, ŷ)
       L_IM = 1/N Σ_i H(p_i) - diversity_weight · H(p̄)        (information maximisation)

   where ŷ are SHOT's self-supervised pseudo-labels (:func:`dasuite.losses.shot_pseudo_labels`: clusters
   of the target features around class centroids in cosine distance, two rounds, empty classes dropped).

Pseudo-labels, per epoch as in the official code (tim-learn/SHOT at f7d555a0, ``digit/uda_digit.py`` and
``object/image_target.py``: ``obtain_label`` at the start of every epoch, ``mem_label[tar_idx]`` at each step):
before each adaptation epoch (:meth:`Method.begin_epoch`) the model, in evaluation mode, embeds the whole
target set preprocessed for evaluation (no augmentation), and every target item gets its label; a step
reads its batch's labels by position (``batch["target"].index``), so they stay fixed through the epoch. The first
labels therefore come from the source model; checkpoints keep the epoch's labels, so a run resumed
mid-epoch uses the same ones.

The paper's network (tim-learn/SHOT, ``digit/network.py``): ``bottleneck_dim`` puts SHOT's bottleneck
(Linear -> BatchNorm -> dropout ``bottleneck_dropout``, no activation; ``feat_bootleneck`` of type
``bn``) between the backbone and the head, adapted with the backbone; ``weight_norm=true`` makes the
head weight-normalised (``feat_classifier`` of type ``wn``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as weight_normalised

from dasuite.errors import ConfigError, check_number
from dasuite.losses import InformationMaximizationLoss, shot_pseudo_labels
from dasuite.methods.base import MAIN, Batch, Method, Stage, StepContext, check_epochs, check_flag, check_trade_off


class SHOT(Method):
    """Source training, then target-only adaptation of the backbone against the frozen head."""

    adaptation_weight = "trade_off"
    predicting = ("backbone", "bottleneck", "head")

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, beta: float = 0.3,
                 diversity_weight: float = 1.0, source_epochs: int | None = None, adapt_lr_mult: float = 0.1,
                 label_smoothing: float = 0.1, bottleneck_dim: int | None = None, bottleneck_dropout: float = 0.0,
                 weight_norm: bool = False):
        super().__init__(backbone, num_classes, label_smoothing)
        if bottleneck_dim is not None and (isinstance(bottleneck_dim, bool) or not isinstance(bottleneck_dim, int)
                                           or bottleneck_dim < 1):
            raise ConfigError(f"method.bottleneck_dim={bottleneck_dim!r} must be null or an integer >= 1.")
        if not 0 <= check_number("method.bottleneck_dropout", bottleneck_dropout) < 1:
            raise ConfigError(f"method.bottleneck_dropout={bottleneck_dropout} must lie in [0, 1).")
        self.bottleneck = nn.Identity() if bottleneck_dim is None else nn.Sequential(
            nn.Linear(backbone.out_features, bottleneck_dim), nn.BatchNorm1d(bottleneck_dim),
            nn.Dropout(bottleneck_dropout))
        self.head = nn.Linear(bottleneck_dim or backbone.out_features, num_classes)
        self.weight_norm = check_flag("weight_norm", weight_norm)
        if self.weight_norm:
            self.head = weight_normalised(self.head)
        self.trade_off = check_trade_off(trade_off)
        self.beta = check_number("method.beta", beta, minimum=0, hint=" (it weights the pseudo-label loss)")
        diversity_weight = check_number("method.diversity_weight", diversity_weight, minimum=0)
        self.source_epochs = None if source_epochs == 0 and not isinstance(source_epochs, bool) else \
            check_epochs("source_epochs", source_epochs)
        self.source_stage = source_epochs != 0  # 0: adaptation only, from a trained source run (init_from=)
        self.adapt_lr_mult = check_number("method.adapt_lr_mult", adapt_lr_mult, minimum=0)
        self.information_maximization = InformationMaximizationLoss(diversity_weight)
        self.pseudo_labels: torch.Tensor | None = None  # of the whole target set, for the current epoch

    def stages(self) -> list[Stage]:
        source = [Stage("source", draws=("source",), epochs=self.source_epochs)] if self.source_stage else []
        return [*source, Stage("adapt", draws=("target",))]

    def param_groups(self, stage: Stage):
        if stage.name == "source":
            return super().param_groups(stage)
        return {MAIN: [{"params": [*self.backbone.parameters(), *self.bottleneck.parameters()],
                        "lr_mult": self.adapt_lr_mult}]}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone(x))

    def set_head(self, hidden) -> None:
        if hidden and self.weight_norm:
            raise ConfigError(f"method.head_hidden={list(hidden)} and method.weight_norm=true: SHOT's "
                              "weight-normalised head is one linear layer; set one of them only.")
        super().set_head(hidden)

    def training_step(self, batch: Batch, ctx: StepContext):
        if ctx.stage == "source":
            return {"cls": self.classification_loss(self.predict(batch.xs), batch.ys)}
        features = self.features(batch.xt)
        logits = self.frozen_head(features)
        terms = {"im": self.trade_off * self.information_maximization(logits)}
        if self.beta > 0:
            index = batch["target"].index
            if self.pseudo_labels is None or index is None:
                raise RuntimeError("SHOT's pseudo-label term needs the epoch's labels (begin_epoch) and the batch's "
                                   "positions batch['target'].index, which the trainer provides.")
            labels = self.pseudo_labels.to(index.device)[index].to(logits.device)
            terms["pseudo"] = self.beta * torch.nn.functional.cross_entropy(logits, labels)
        return terms

    def begin_epoch(self, stage: Stage, epoch: int, inputs) -> None:
        """SHOT's pseudo-labels of the whole target set, from the current model in evaluation mode."""
        if stage.name != "adapt" or self.beta == 0:
            return
        self.pseudo_labels = shot_pseudo_labels(*self.outputs_on(inputs, "target"))

    def get_extra_state(self) -> dict:
        """The epoch's pseudo-labels go into checkpoints, so a run resumed mid-epoch uses the same ones."""
        return {"pseudo_labels": self.pseudo_labels}

    def set_extra_state(self, state: dict) -> None:
        self.pseudo_labels = state.get("pseudo_labels")
