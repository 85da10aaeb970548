"""The interface between the trainer and every method.

The trainer owns the loop (devices, optimizers, schedules, evaluation, checkpoints); a method owns
its modules and its losses. Per optimisation step the trainer calls :meth:`Method.training_step`
once per optimizer the current stage lists, sums the returned loss terms, back-propagates and
steps that optimizer. It never asks which method it is running.

What a method can rely on:

* ``stages()``: several phases (e.g. source pretraining, then adaptation), each drawing its own
  sets (any the pair has: ``source``, ``target``, ``target_labeled`` with target labels) and,
  optionally, its own number of epochs; the trainer builds fresh optimizers and LR
  schedules at the start of each stage.
* ``param_groups(stage)``: one optimizer per key, stepped in the listed order; ``main``
  (:data:`MAIN`) names the optimizer of the model that :meth:`Method.predict` uses, other keys
  (e.g. ``disc``) auxiliary players such as ADDA's discriminator. Composition relies on it
  (self-training adds its term to the ``main`` step).
* ``ctx`` in ``training_step``: ``progress`` in [0, 1] over the current stage, the stage's name,
  the optimizer being stepped, the global epoch and step. A method that needs per-epoch state
  (SHOT's per-epoch pseudo-labels, ADDA's target-encoder initialisation) updates it lazily when
  ``ctx.epoch`` or ``ctx.stage`` changes; persistent state lives in buffers so checkpoints keep it.
* ``batch``: a mapping of named draws, one per set the stage draws (:class:`Batch`): ``batch["source"]``
  is a :class:`Draw` with the inputs ``x`` preprocessed for training, the labels ``y`` (None for an
  unlabeled set) and ``index``, the positions of its items in the whole set (the order in which
  ``begin_epoch``'s ``inputs(draw)`` yields it; global positions under data-parallel training).
  ``batch.xs``, ``ys``, ``xt``, ``xl``, ``yl`` are shorthands for the default draws. Any other item:
  ``batch.fetch(draw, index)`` returns the items ``index`` of the set ``draw`` as a :class:`Draw`, on the
  device and preprocessed for training exactly as the step's batch. Fetching draws nothing from the
  samplers, so the batches of later steps do not change. CDTrans completes each batch item with its
  nearest neighbour in the other whole set this way.
* ``ctx.log(name, value)``: a number logged beside the loss terms (averaged over the epoch into
  ``train/<name>`` of metrics.jsonl), never added to the loss nor back-propagated.
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

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.errors import ConfigError, check_number
from dasuite.models.heads import mlp_head

#: The draws of every pair: labeled source and unlabeled target training sets.
SOURCE, TARGET = "source", "target"

#: The name of the optimizer that trains the predicting model (see :meth:`Method.param_groups`).
MAIN = "main"

#: The draw of the k labeled target samples per class.
LABELED = "target_labeled"


#: How a :class:`Stream` orders its set: the set's own order, or a seeded shuffle.
STREAM_ORDERS = ("given", "shuffled")


@dataclass(frozen=True)
class Stream:
    """A stage that meets its first draw as a deployed model meets its inputs: once, in a fixed order, every item
    exactly once (the last batch holds the rest), and a step predicts a batch before it learns from it.

    ``order``: ``given`` (the set's own order: a continual stream's domains one after another) or ``shuffled`` (by
    the run's seed); ``label_shift``: a Dirichlet concentration (e.g. 0.1) that orders the stream by class as the
    test-time literature simulates online label shift (smaller: longer runs of one class), None for none. The
    engine orders the stream with the set's labels; the method never sees them.
    """

    order: str = "shuffled"
    label_shift: float | None = None

    def __post_init__(self):
        if self.order not in STREAM_ORDERS:
            raise ValueError(f"Stream order {self.order!r} is not one of {', '.join(STREAM_ORDERS)}.")
        if self.label_shift is not None and not self.label_shift > 0:
            raise ValueError(f"Stream label_shift={self.label_shift!r} must be a positive Dirichlet concentration "
                             "(or None).")


@dataclass(frozen=True)
class Stage:
    """One phase of training.

    ``draws`` names the sets each step samples a batch from: any training set the pair has, e.g. ``source``
    (labeled), ``target`` (unlabeled), ``target_labeled`` (the k labeled target samples per class); the trainer
    checks them against the pair when training starts. One pass over the first of them is an epoch; the others
    are cycled. ``epochs=None`` means ``trainer.epochs``.
    """

    name: str
    draws: tuple[str, ...] = (SOURCE, TARGET)
    epochs: int | None = None
    stream: Stream | None = None

    def __post_init__(self):
        names = self.draws if isinstance(self.draws, tuple) else ()
        if not names or any(not isinstance(d, str) or not d for d in names) or len(set(names)) < len(names):
            raise ValueError(f"Stage {self.name!r} draws {self.draws!r}; it must be a non-empty tuple of distinct "
                             f"set names, e.g. {(SOURCE, TARGET)}.")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"Stage {self.name!r} has epochs={self.epochs}; it must be >= 1 (or None).")
        if self.stream is not None and self.epochs != 1:
            raise ValueError(f"Stage {self.name!r} reads a stream, once: it needs epochs=1, not {self.epochs}.")


@dataclass(frozen=True)
class Draw:
    """One named set's items in a step: inputs ``x``, labels ``y`` (None for an unlabeled set) and ``index``,
    the items' positions in the whole set (int64, on the device: the order of :meth:`Method.begin_epoch`'s
    ``inputs(draw)`` and of :meth:`Batch.fetch`; None where a test builds a batch without them)."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    index: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)


#: ``fetch(draw, index)``: the items at positions ``index`` of the training set ``draw``, as a :class:`Draw` on the
#: device, preprocessed for training as a batch is.
Fetch = Callable[[str, torch.Tensor], Draw]


class Batch(Mapping[str, Draw]):
    """One step's data: draw name -> :class:`Draw`, one per set the stage draws (``batch["source"].x``).

    ``xs``, ``ys``, ``xt``, ``xl``, ``yl`` are shorthands for the inputs and labels of the ``source``,
    ``target`` and ``target_labeled`` draws, None when the stage does not draw that set. :meth:`fetch` reads any
    other items of the run's training sets.
    """

    def __init__(self, draws: Mapping[str, Draw], fetch: Fetch | None = None):
        self._draws, self._fetch = dict(draws), fetch

    def __getitem__(self, name: str) -> Draw:
        if name not in self._draws:
            raise KeyError(f"this step draws no {name!r} set; it draws {sorted(self._draws)}")
        return self._draws[name]

    def __contains__(self, name) -> bool:
        return name in self._draws

    def __iter__(self) -> Iterator[str]:
        return iter(self._draws)

    def __len__(self) -> int:
        return len(self._draws)

    def __repr__(self) -> str:
        return f"Batch({', '.join(f'{name}: {len(draw)}' for name, draw in self._draws.items())})"

    def fetch(self, draw: str, index: torch.Tensor) -> Draw:
        """The items at positions ``index`` of the run's training set ``draw`` (this step's or any other), as
        :class:`Draw` on the device, preprocessed for training exactly as the step's; reading them draws
        nothing from the samplers, so later batches do not change."""
        if self._fetch is None:
            raise RuntimeError(f"batch.fetch({draw!r}, ...): this batch was built without a fetch; the trainer "
                               "provides one (build Batch(draws, fetch=...) to fetch outside it).")
        return self._fetch(draw, index)

    def _part(self, name: str, part: str) -> torch.Tensor | None:
        draw = self._draws.get(name)
        return None if draw is None else getattr(draw, part)

    @property
    def xs(self) -> torch.Tensor | None:
        return self._part(SOURCE, "x")

    @property
    def ys(self) -> torch.Tensor | None:
        return self._part(SOURCE, "y")

    @property
    def xt(self) -> torch.Tensor | None:
        return self._part(TARGET, "x")

    @property
    def xl(self) -> torch.Tensor | None:
        return self._part(LABELED, "x")

    @property
    def yl(self) -> torch.Tensor | None:
        return self._part(LABELED, "y")


@dataclass(frozen=True)
class StepContext:
    """Where training stands: ``progress`` runs from 0 to 1 over the current stage.

    :meth:`log` collects the step's logged values in ``logged``, which the trainer reads after the step.
    """

    progress: float
    stage: str
    optimizer: str
    epoch: int
    step: int
    logged: dict[str, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)
    prediction: tuple[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    def log(self, name: str, value: torch.Tensor | float) -> None:
        """Log one number beside the loss terms: averaged over the epoch like them into ``train/<name>`` of
        metrics.jsonl (``train/<optimizer>/<name>`` with several optimizers), never added to the loss and never
        back-propagated (it is detached). A name appears at most once per step and is no loss term's."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"ctx.log({name!r}, ...): the name must be a non-empty string.")
        if name in self.logged:
            raise ValueError(f"ctx.log({name!r}, ...) was called twice in one step; log each name once per step.")
        value = torch.as_tensor(value).detach()
        if value.numel() != 1:
            raise ValueError(f"ctx.log({name!r}, ...) got a tensor of shape {tuple(value.shape)}; log one number.")
        self.logged[name] = value.float().reshape(())

    def predicted(self, draw: str, logits: torch.Tensor) -> None:
        """The class logits the method gives the step's batch of ``draw`` before adapting on it (a test-time method's
        online predictions): scored against the set's labels by the engine (``online/accuracy``), never returned to
        the method."""
        if self.prediction is not None:
            raise ValueError("ctx.predicted(...) was called twice in one step; predict the batch once.")
        object.__setattr__(self, "prediction", (draw, logits.detach()))


class Method(nn.Module):
    """A backbone, a linear classifier head, and the losses that train them.

    Subclasses add their own modules in ``__init__`` and implement :meth:`training_step`;
    override :meth:`stages` and :meth:`param_groups` for multi-stage or multi-optimizer training.
    """

    #: True when the method cannot run without ``dataset.target_labels_per_class > 0``.
    requires_target_labels = False
    #: The constructor setting that weights the adaptation loss (λ, ``method.<name>``; None: the method has none):
    #: what summary.json records as ``trade_off``, a λ sweep's axis in ``dasuite report``, and what the divergence
    #: hint suggests lowering.
    adaptation_weight: str | None = None
    #: The modules (attribute names) on the path from input to prediction: what ``init_from=<run>`` carries over from
    #: another run (:mod:`dasuite.assembly.init_from`); a method with its own bottleneck lists it (SHOT).
    predicting: tuple[str, ...] = ("backbone", "head")

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
        :attr:`Draw.index` and :meth:`Batch.fetch` call i. The default does nothing.
        """

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Loss terms for the optimizer ``ctx.optimizer``; the trainer sums and logs them (a value to log only,
        never to train on, goes to :meth:`StepContext.log`). No term (``{}``): nothing to learn from this batch,
        and the trainer steps neither that optimizer nor its schedule (EATA when its filters keep no sample)."""
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
