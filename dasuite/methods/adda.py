"""ADDA: adversarial discriminative domain adaptation (Tzeng et al., CVPR 2017).

Two stages:

1. ``source``: a source encoder M_s (the backbone) and the classifier C learn on labeled source.
2. ``adapt``: a separate target encoder M_t, initialised from M_s at the stage's first step,
   plays a GAN game against a domain discriminator D while M_s and C stay fixed. Each step runs
   two optimizers in turn: ``disc`` (D: BCE(D(M_s(x_s)), 1) + BCE(D(M_t(x_t)), 0), halved) and then
   ``main`` (M_t only: trade_off · BCE(D(M_t(x_t)), 1), the inverted-label GAN loss).

Both players learn at ``adapt_lr_mult`` × ``trainer.lr`` (default 0.1). The paper trained this stage
with Adam at 2e-4; with the trainer's SGD (lr 0.01, momentum 0.9) at full rate the discriminator
wins outright on the toy blobs (its loss falls to ~0.006 while the encoder's rises to ~4.9, a failed
game that the logged ``train/disc/disc`` and ``train/main/confusion`` show without any target
label); at a tenth both stay near log 2.

Prediction uses C(M_s(x)) until adaptation starts and C(M_t(x)) afterwards; a buffer records which,
so a checkpoint predicts as the run did.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from dasuite.errors import check_number
from dasuite.methods.base import MAIN, Batch, Method, Stage, StepContext, check_epochs, check_sizes, check_trade_off
from dasuite.models.heads import domain_discriminator


class ADDA(Method):
    """Source pretraining, then a target encoder trained against a discriminator (alternating steps)."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0,
                 discriminator_hidden: Sequence[int] = (500, 500), source_epochs: int | None = None,
                 adapt_lr_mult: float = 0.1, label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.source_epochs = check_epochs("source_epochs", source_epochs)
        self.adapt_lr_mult = check_number("method.adapt_lr_mult", adapt_lr_mult, minimum=0)
        self.target_encoder = copy.deepcopy(backbone)
        self.discriminator = domain_discriminator(backbone.out_features,
                                                  check_sizes("discriminator_hidden", discriminator_hidden))
        self.register_buffer("adapting", torch.tensor(False))

    def stages(self) -> list[Stage]:
        return [Stage("source", draws=("source",), epochs=self.source_epochs), Stage("adapt")]

    def param_groups(self, stage: Stage):
        if stage.name == "source":
            return {MAIN: [{"params": list(self.backbone.parameters()) + list(self.head.parameters())}]}
        return {"disc": [{"params": list(self.discriminator.parameters()), "lr_mult": self.adapt_lr_mult}],
                MAIN: [{"params": list(self.target_encoder.parameters()), "lr_mult": self.adapt_lr_mult}]}

    def training_step(self, batch: Batch, ctx: StepContext):
        if ctx.stage == "source":
            return {"cls": self.classification_loss(self.head(self.backbone(batch.xs)), batch.ys)}
        if not self.adapting:
            self.start_adaptation()
        if ctx.optimizer == "disc":
            with torch.no_grad():
                f_s, f_t = self.backbone(batch.xs), self.target_encoder(batch.xt)
            d_s, d_t = self.discriminator(f_s).squeeze(1), self.discriminator(f_t).squeeze(1)
            return {"disc": 0.5 * (F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
                                   + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t)))}
        d_t = self.discriminator(self.target_encoder(batch.xt)).squeeze(1)
        return {"confusion": self.trade_off * F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))}

    @torch.no_grad()
    def start_adaptation(self) -> None:
        """M_t := M_s (weights and buffers), and predict with M_t from now on."""
        self.target_encoder.load_state_dict(self.backbone.state_dict())
        self.adapting.fill_(True)

    def networks(self) -> list[torch.nn.Module]:
        return [*super().networks(), self.target_encoder]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return (self.target_encoder if self.adapting else self.backbone)(x)
