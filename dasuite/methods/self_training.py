"""Self-training with confident pseudo-labels, alone or on top of another method.

    L = L_base + trade_off · 1/N Σ_i 1[max_k p_ik >= threshold] · CE(z_i, argmax_k p_ik)

on each target batch, with z the logits of the model's prediction and p = softmax(z) (no gradient
through the labels; :class:`dasuite.losses.ConfidentPseudoLabelLoss`).

Composition instead of branching: ``base`` is another method, received as a factory that builds it
on the same backbone (a nested ``_target_`` config; ``method.base=dann`` names a file of
``configs/method/``, see :mod:`dasuite.assembly.nested_methods`; None: :class:`SourceOnly`). Self-
training then *is* the base method plus one term: it runs the base's stages and optimizers, adds
the pseudo-label term to the base's :data:`~dasuite.methods.base.MAIN` step in every stage that
draws target data, and predicts as the base does. A base that never draws target data
(``source_only``) gets the target set added to its source stages, so the term has data.
"""

from __future__ import annotations

import dataclasses

from dasuite.errors import ConfigError, check_number
from dasuite.losses import ConfidentPseudoLabelLoss
from dasuite.methods.base import MAIN, Batch, Method, MethodFactory, Stage, StepContext, check_trade_off
from dasuite.methods.source_only import SourceOnly


class SelfTraining(Method):
    """A base method's losses + trade_off · confident pseudo-label cross-entropy on target."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, base: MethodFactory | None = None, threshold: float = 0.9,
                 trade_off: float = 1.0):
        if base is not None and not callable(base):
            raise ConfigError(f"method.base={base!r} must be a method: a name of configs/method/ (method.base=dann) "
                              "or a _target_ config.")
        factory = SourceOnly if base is None else base
        name = getattr(getattr(factory, "func", factory), "__name__", "the base method")  # a partial: its class
        try:
            base_method = factory(backbone=backbone, num_classes=num_classes)
        except ConfigError as error:
            raise ConfigError(f"method.base ({name}): {error}") from None
        if isinstance(base_method, SelfTraining):
            raise ConfigError("method.base=self_training: self-training cannot be its own base; "
                              "pick another method (or null for source_only).")
        super().__init__(backbone, num_classes)
        self.base = base_method
        self.head = base_method.head  # the same module: self.backbone/self.head are the base's
        self.requires_target_labels = base_method.requires_target_labels
        self.trade_off = check_trade_off(trade_off)
        threshold = check_number("method.threshold", threshold)
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"method.threshold={threshold} must lie in [0, 1] (a softmax confidence).")
        self.pseudo_label_loss = ConfidentPseudoLabelLoss(threshold)

    def stages(self) -> list[Stage]:
        stages = self.base.stages()
        if any("target" in s.draws for s in stages):
            return stages
        return [dataclasses.replace(s, draws=(*s.draws, "target")) if "source" in s.draws else s for s in stages]

    def param_groups(self, stage: Stage):
        return self.base.param_groups(stage)

    def begin_epoch(self, stage: Stage, epoch: int, inputs) -> None:
        self.base.begin_epoch(stage, epoch, inputs)

    def training_step(self, batch: Batch, ctx: StepContext):
        terms = dict(self.base.training_step(batch, ctx))
        if ctx.optimizer == MAIN and batch.xt is not None:
            terms["pseudo"] = self.trade_off * self.pseudo_label_loss(self.base.predict(batch.xt))
        return terms

    def set_head(self, hidden) -> None:
        self.base.set_head(hidden)
        self.head = self.base.head

    def features(self, x):
        return self.base.features(x)

    def predict(self, x):
        return self.base.predict(x)

    def embed(self, x):
        return self.base.embed(x)
