"""The interface between the trainer and every method.

The trainer owns the loop (devices, optimizers, schedules, evaluation, checkpoints); a method owns
its modules and its losses. Per optimisation step the trainer calls :meth:`Method.training_step`
once per optimizer the current stage lists, sums the returned loss terms, back-propagates and
steps that optimizer. It never asks which method it is running.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.errors import ConfigError, check_number

#: The sets a stage can draw from each step (see :class:`Stage`).
DRAWS = ("source", "target", "target_labeled")


@dataclass(frozen=True)
class Stage:
    """One phase of training.

    ``draws`` names the sets each step samples a batch from: ``source`` (labeled), ``target``
    (unlabeled), ``target_labeled`` (the k labeled target samples per class). One pass over the
    first of them is an epoch; the others are cycled. ``epochs=None`` means ``trainer.epochs``.
    """

    name: str
    draws: tuple[str, ...] = ("source", "target")
    epochs: int | None = None

    def __post_init__(self):
        unknown = set(self.draws) - set(DRAWS)
        if not self.draws or unknown:
            raise ValueError(f"Stage {self.name!r} draws {self.draws}; each must be one of {DRAWS}.")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"Stage {self.name!r} has epochs={self.epochs}; it must be >= 1 (or None).")


@dataclass
class Batch:
    """One step's data; a field is None when the stage does not draw that set."""

    xs: torch.Tensor | None = None
    ys: torch.Tensor | None = None
    xt: torch.Tensor | None = None
    xl: torch.Tensor | None = None
    yl: torch.Tensor | None = None


@dataclass(frozen=True)
class StepContext:
    """Where training stands: ``progress`` runs from 0 to 1 over the current stage."""

    progress: float
    stage: str
    optimizer: str
    epoch: int
    step: int


class Method(nn.Module):
    """A backbone, a linear classifier head, and the losses that train them.

    Subclasses add their own modules in ``__init__`` and implement :meth:`training_step`;
    override :meth:`stages` and :meth:`param_groups` for multi-stage or multi-optimizer training.
    """

    #: True when the method cannot run without ``dataset.target_labels_per_class > 0``.
    requires_target_labels = False

    def __init__(self, backbone: nn.Module, num_classes: int, label_smoothing: float = 0.0):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"method.label_smoothing={label_smoothing} must lie in [0, 1).")
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_features, num_classes)
        self.label_smoothing = label_smoothing

    def stages(self) -> list[Stage]:
        """The phases of training, in order."""
        return [Stage("adapt")]

    def param_groups(self, stage: Stage) -> dict[str, list[dict]]:
        """Optimizer name -> torch param groups; a group may carry ``lr_mult`` (default 1)."""
        return {"main": [{"params": list(self.parameters())}]}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Loss terms for the optimizer ``ctx.optimizer``; the trainer sums and logs them."""
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, used by evaluation."""
        return self.head(self.backbone(x))

    def classification_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def features_of_both(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features of the source and target batch, computed in one forward pass."""
        features = self.backbone(torch.cat([batch.xs, batch.xt]))
        return features[: len(batch.xs)], features[len(batch.xs):]


def check_trade_off(trade_off: float) -> float:
    """Validate ``method.trade_off`` (λ, the weight of the adaptation loss)."""
    return check_number("method.trade_off", trade_off, minimum=0, hint=" (it weights the adaptation loss)")
