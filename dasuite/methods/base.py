"""The interface between the trainer and every method.

The trainer owns the loop (devices, optimizers, schedules, evaluation, checkpoints); a method owns
its modules and its losses. Per optimisation step the trainer calls :meth:`Method.training_step`
once per optimizer the current stage lists, sums the returned loss terms, back-propagates and
steps that optimizer. It never asks which method it is running.

What a method can rely on:

* ``stages()``: several phases (e.g. source pretraining, then adaptation), each drawing its own
  sets and, optionally, its own number of epochs; the trainer builds fresh optimizers and LR
  schedules at the start of each stage.
* ``param_groups(stage)``: one optimizer per key, stepped in the listed order; ``main``
  (:data:`MAIN`) names the optimizer of the model that :meth:`Method.predict` uses, other keys
  (e.g. ``disc``) auxiliary players such as ADDA's discriminator. Composition relies on it
  (self-training adds its term to the ``main`` step).
* ``ctx`` in ``training_step``: ``progress`` in [0, 1] over the current stage, the stage's name,
  the optimizer being stepped, the global epoch and step. A method that needs per-epoch state
  (SHOT's per-epoch pseudo-labels, ADDA's target-encoder initialisation) updates it lazily when
  ``ctx.epoch`` or ``ctx.stage`` changes; persistent state lives in buffers so checkpoints keep it.
* Which items a batch holds, and any other item: ``batch.index_s`` / ``batch.index_t`` are the
  positions of the source / target batch in their whole training set (the order in which
  ``begin_epoch``'s ``inputs(draw)`` yields it; global positions under data-parallel training), and
  ``ctx.fetch(draw, index)`` returns the parts of the set ``draw`` (inputs, then labels if it has any)
  for the items ``index``, on the device and preprocessed for training exactly as the step's batch.
  Fetching draws nothing from the samplers, so the batches of later steps do not change. CDTrans
  completes each batch item with its nearest neighbour in the other whole set this way.
* Inputs are whatever the pair gives, (N, D) vectors or (N, C, H, W) images: methods pass them to
  the backbone and make no other assumption (rotation SSL documents its own).
* ``callbacks()``: what a method needs around the loop rather than inside a step (restoring weights
  between steps, say) comes as callbacks of its own, which the trainer runs with the others.
* A few target labels, any method (semi-supervised DA): when the pair has k labeled target samples
  per class and the method's stages never draw them itself, :meth:`Method.training_stages` adds
  ``target_labeled`` to every stage and :meth:`Method.step_losses` adds
  ``target_label_weight`` · cross-entropy of :meth:`Method.predict` on them to the :data:`MAIN` step.
  Methods that draw ``target_labeled`` themselves (fine-tuning) use the labels their own way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.errors import ConfigError, check_number
from dasuite.models.heads import mlp_head

#: The sets a stage can draw from each step (see :class:`Stage`).
DRAWS = ("source", "target", "target_labeled")

#: The name of the optimizer that trains the predicting model (see :meth:`Method.param_groups`).
MAIN = "main"

#: The draw of the k labeled target samples per class.
LABELED = "target_labeled"


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
    """One step's data; a field is None when the stage does not draw that set.

    ``index_s`` and ``index_t`` (int64, on the device) are the positions of the ``xs`` and ``xt`` items in the
    whole source and target training sets: the order in which :meth:`Method.begin_epoch`'s ``inputs(draw)``
    yields them and in which :attr:`StepContext.fetch` takes positions.
    """

    xs: torch.Tensor | None = None
    ys: torch.Tensor | None = None
    xt: torch.Tensor | None = None
    xl: torch.Tensor | None = None
    yl: torch.Tensor | None = None
    index_s: torch.Tensor | None = None
    index_t: torch.Tensor | None = None


#: ``fetch(draw, index)``: the parts of the training set ``draw`` (``[x, y]`` for ``source``, ``[x]`` for
#: ``target``) for the items at positions ``index``, on the device, preprocessed for training as a batch is.
Fetch = Callable[[str, torch.Tensor], list[torch.Tensor]]


@dataclass(frozen=True)
class StepContext:
    """Where training stands: ``progress`` runs from 0 to 1 over the current stage.

    ``fetch`` (see :data:`Fetch`) reads any items of the run's training sets, the batch's or others, without
    drawing from the samplers; the trainer always sets it (None only where a test builds a context alone).
    """

    progress: float
    stage: str
    optimizer: str
    epoch: int
    step: int
    fetch: Fetch | None = None


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
        self.target_label_weight = 1.0  # method.target_label_weight, set by dasuite.assembly.method.build_method
        self.adds_target_label_term = False  # decided by training_stages()

    def stages(self) -> list[Stage]:
        """The phases of training, in order."""
        return [Stage("adapt")]

    def param_groups(self, stage: Stage) -> dict[str, list[dict]]:
        """Optimizer name -> torch param groups; a group may carry ``lr_mult`` (default 1).

        The trainer steps the optimizers in this order, calling :meth:`training_step` once for
        each; :data:`MAIN` must name the one that trains the model :meth:`predict` uses.
        """
        return {MAIN: [{"params": list(self.parameters())}]}

    def begin_epoch(self, stage: Stage, epoch: int, inputs: Callable[..., Iterator[torch.Tensor]]) -> None:
        """Called before each epoch's first step (``epoch`` counts the epochs already run).

        ``inputs(draw)`` yields the whole set ``draw`` (one of the stage's draws) in order, in
        evaluation batches preprocessed as for evaluation, e.g. for SHOT's per-epoch pseudo-labels;
        ``inputs(draw, labels=True)`` yields its labels instead, in the same order and batches (a set
        with labels: ``source``, ``target_labeled``). Position i of that order is the item that
        ``Batch.index_s`` / ``index_t`` and ``StepContext.fetch`` call i. The default does nothing.
        """

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Loss terms for the optimizer ``ctx.optimizer``; the trainer sums and logs them."""
        raise NotImplementedError

    def training_stages(self, has_target_labels: bool) -> list[Stage]:
        """:meth:`stages` as the trainer runs them: each also draws the labeled target samples when the
        pair has them, the weight is positive and the method does not draw them itself."""
        stages = self.stages()
        self.adds_target_label_term = (has_target_labels and self.target_label_weight > 0
                                       and not any(LABELED in s.draws for s in stages))
        if not self.adds_target_label_term:
            return stages
        return [replace(s, draws=(*s.draws, LABELED)) for s in stages]

    def step_losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """:meth:`training_step`'s terms, plus ``target_labels`` on the :data:`MAIN` step when
        :meth:`training_stages` added the labeled target draw."""
        terms = self.training_step(batch, ctx)
        if self.adds_target_label_term and ctx.optimizer == MAIN and batch.yl is not None:
            terms = {**terms, "target_labels": self.target_label_weight
                     * self.classification_loss(self.predict(batch.xl), batch.yl)}
        return terms

    def outputs_on(self, inputs: Callable[[str], Iterator[torch.Tensor]], draw: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and class probabilities of the whole set ``draw`` (:meth:`begin_epoch`'s ``inputs``) under
        the current model, in eval mode and without gradients: what per-epoch pseudo-labels are built from."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            features = [self.features(x) for x in inputs(draw)]
            probabilities = [self.head(f).softmax(1) for f in features]
        self.train(was_training)
        return torch.cat(features), torch.cat(probabilities)

    def callbacks(self) -> list:
        """Callbacks (:class:`~dasuite.engine.callbacks.base.Callback`) this method brings to the loop, e.g. SSRT's
        safe training, which restores earlier weights between steps: the trainer adds them to its own. The
        default: those of the methods it is built on (none for a method built on none)."""
        return [callback for child in self.children() if isinstance(child, Method) for callback in child.callbacks()]

    def networks(self) -> list[nn.Module]:
        """The modules that do the heavy lifting, which ``trainer.compile=true`` compiles: the backbone and
        the head; a method with a further network on the predicting path lists it too."""
        return [self.backbone, self.head]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The representation :meth:`predict` classifies (validators, t-SNE and the proxy A-distance read it)."""
        return self.backbone(x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, used by evaluation."""
        return self.head(self.features(x))

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of one forward pass: what the label-free validators score."""
        features = self.features(x)
        return features, self.head(features)

    def classification_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def set_head(self, hidden: Sequence[int]) -> None:
        """Make the classifier head a ReLU MLP with hidden sizes ``hidden`` (``method.head_hidden``, applied by
        :func:`dasuite.assembly.method.build_method`); ``[]`` keeps the linear head."""
        if hidden:
            self.head = mlp_head(self.head.in_features, hidden, self.head.out_features)

    def frozen_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of the classifier head with its weights held fixed (gradients reach only ``features``)."""
        fixed = {name: p.detach() for name, p in self.head.named_parameters()}
        return torch.func.functional_call(self.head, fixed, (features,))

    def features_of_both(self, batch: Batch, joint: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features of the source and target batch, computed in one forward pass (BatchNorm
        normalises them with the statistics of both domains together) or, with ``joint=False``, in two:
        source, then target (each domain with its own batch statistics)."""
        if not joint:
            return self.backbone(batch.xs), self.backbone(batch.xt)
        features = self.backbone(torch.cat([batch.xs, batch.xt]))
        return features[: len(batch.xs)], features[len(batch.xs):]


#: Another method, to be built on a method's own backbone: ``factory(backbone=..., num_classes=...)``. A
#: constructor parameter of this type takes a nested method config (:mod:`dasuite.assembly.nested_methods`).
MethodFactory = Callable[..., Method]


def check_trade_off(trade_off: float) -> float:
    """Validate ``method.trade_off`` (λ, the weight of the adaptation loss)."""
    return check_number("method.trade_off", trade_off, minimum=0, hint=" (it weights the adaptation loss)")


def check_epochs(key: str, epochs: int | None) -> int | None:
    """Validate an optional per-stage epoch count (null: ``trainer.epochs``)."""
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"method.{key}={epochs!r} must be null (use trainer.epochs) or an integer >= 1.")
    return epochs


def check_steps(key: str, steps: int | None) -> int | None:
    """Validate an optional step count (null: not used)."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ConfigError(f"method.{key}={steps!r} must be null or an integer >= 1 (optimisation steps).")
    return steps


def check_flag(key: str, value) -> bool:
    """Validate a true/false config value."""
    if not isinstance(value, bool):
        raise ConfigError(f"method.{key}={value!r} must be true or false.")
    return value


def check_sizes(key: str, value) -> list[int]:
    """Validate a list of hidden-layer sizes (possibly empty: a linear head)."""
    sizes = None if isinstance(value, (str, int, float)) or value is None else list(value)
    if sizes is None or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        shown = sizes if sizes is not None else value
        raise ConfigError(f"method.{key}={shown!r} must be a list of positive integers (e.g. [256, 256], "
                          "or [] for a linear layer).")
    return sizes
