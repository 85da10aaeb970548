"""One training loop for every method.

For each stage the method declares, the trainer builds the optimizers from the method's param
groups, then runs ``epochs`` epochs of steps. Each epoch starts with ``method.begin_epoch``; a step
draws one batch from each set the stage names, calls ``method.step_losses`` (the method's
``training_step`` plus the shared target-label term) once per optimizer, sums the returned terms,
back-propagates and steps (a call that returns no term steps nothing); the epoch's means of the terms and of
what the method passed to ``ctx.log`` go to the metrics. Every ``trainer.eval_every``-th epoch of a stage and its
last is evaluated.

Everything else lives in callbacks around this loop (:mod:`dasuite.engine.callbacks`): checkpoints
and exact resume, evaluation, the label-free pick, metrics and logs, the progress bar, the
divergence guard, signals, plots (:func:`~dasuite.engine.callbacks.defaults.default_callbacks`, each
with its own settings), the user's own, and those the method brings (:meth:`Method.callbacks`), run in
the order their classes declare (:mod:`~dasuite.engine.callbacks.ordering`). The Trainer itself keeps
only the settings of the loop, the optimisation and the process.

Scale (docs/scaling.md): steps run under ``trainer.precision``'s autocast (:mod:`~dasuite.engine.precision`),
optionally compiled (:mod:`~dasuite.engine.compile`) and channels-last (:mod:`~dasuite.engine.placement`);
under torchrun, through DDP with sharded samplers and rank 0 evaluating (:mod:`~dasuite.engine.distributed`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from dasuite.engine.callbacks.base import Callback, Callbacks, check_callbacks
from dasuite.engine.callbacks.defaults import default_callbacks
from dasuite.engine.callbacks.ordering import arrange
from dasuite.engine.compile import compile_networks
from dasuite.engine.determinism import deterministic_algorithms
from dasuite.engine.distributed import Distributed
from dasuite.engine.divergence import TrainingDiverged
from dasuite.engine.evaluate import inputs
from dasuite.engine.optim import Frozen, bias_ids, body_ids, build_optimizer, build_schedule, check_betas, scale_lr
from dasuite.engine.placement import channels_last, check_channels_last, use_channels_last
from dasuite.engine.plan import check_plan
from dasuite.engine.precision import Precision, check_precision
from dasuite.engine.sampler import BatchStream
from dasuite.engine.settings import check_trainer
from dasuite.engine.signals import TrainingInterrupted
from dasuite.engine.state import FitState, Position
from dasuite.engine.stream_order import stream_order
from dasuite.errors import ConfigError
from dasuite.methods.base import LABELED, Batch, Draw, Method, StepContext

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "resolve_device"]


@dataclass
class TrainResult:
    final: dict  # the last metrics.jsonl record
    train_seconds: float  # time inside training steps only
    samples: int  # source + target samples consumed by training steps
    steps: int
    epochs: int
    selection: dict  # the label-free pick (Selection.summary)
    fields: dict  # further summary.json fields the callbacks add (plots' proxy A-distance, early stopping)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.train_seconds if self.train_seconds > 0 else float("nan")


def resolve_device(device: str, key: str = "trainer.device") -> torch.device:
    """``auto`` picks CUDA when present; asking for an absent CUDA device is an error naming ``key``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or str(device).startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"{key}={device} but no CUDA device is visible here "
                              f"(torch.cuda.is_available() is False); use {key}=cpu or auto.")
        return torch.device(device)
    raise ConfigError(f"{key}={device!r} is not one of auto, cpu, cuda (or cuda:N).")


class Trainer:
    """Runs a method's stages on a dataset pair and writes the run folder's metrics and checkpoints.

    ``callbacks``: the complete list around the loop (None: :func:`default_callbacks`, the built-ins with their
    default settings, new for each fit); build one with ``default_callbacks(*yours, select=..., plots=...)`` to
    change, add or leave out built-ins. Callbacks keep state (the pick, early stopping's count): give each fit
    its own list. :meth:`fit` adds the method's own (:meth:`Method.callbacks`)."""

    def __init__(self, epochs: int = 300, batch_size: int = 32, optimizer: str = "sgd", lr: float = 0.01,
                 momentum: float = 0.9, weight_decay: float = 5e-4, betas: tuple = (0.9, 0.999),
                 lr_schedule: str = "dann",
                 lr_alpha: float | None = None, lr_beta: float = 0.75, device: str = "auto",
                 eval_batch_size: int = 1024, deterministic: bool = False, precision: str | int = 32,
                 compile: bool = False, channels_last: str | bool = "auto", distributed: str | bool = "auto",
                 sync_batchnorm: bool = False, eval_every: int | str = "auto", steps_per_epoch: int | None = None,
                 backbone_lr_mult: float = 1.0, bias_lr_mult: float = 1.0, nesterov: bool = True,
                 grad_clip_norm: float | None = None, callbacks: Sequence[Callback] | None = None):
        check_trainer(locals())
        self.epochs, self.batch_size, self.eval_batch_size = epochs, batch_size, eval_batch_size
        self.optimizer, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.betas, self.backbone_lr_mult = check_betas(betas), backbone_lr_mult
        self.bias_lr_mult, self.nesterov, self.grad_clip_norm = bias_lr_mult, nesterov, grad_clip_norm
        self.lr_schedule, self.lr_alpha, self.lr_beta = lr_schedule, lr_alpha, lr_beta
        self.steps_per_epoch, self.eval_every = steps_per_epoch, eval_every
        self.precision_setting, self.compile = check_precision(precision), compile
        self.channels_last_setting = check_channels_last(channels_last)
        self.callbacks = None if callbacks is None else check_callbacks(callbacks, "callbacks")
        self.dist = Distributed(distributed, sync_batchnorm)
        self.device = self.dist.device(resolve_device(device))
        self.in_effect: dict = {}  # what fit() runs with: precision, compiled, channels_last, world_size
        self.deterministic = deterministic

    def fit(self, method: Method, pair, run, seed: int, checkpoint_extra: dict | None = None,
            resume: dict | None = None, ready: Callable[[], None] | None = None) -> TrainResult:
        """Train ``method`` on ``pair``, from the start or from the checkpoint ``resume``. ``ready`` is called once
        everything is checked (the checkpoint restored), before the first step: a resume changes its run folder
        only then."""
        state = self._state(method, pair, run, seed, checkpoint_extra, resume)
        hooks = state.callbacks
        try:
            with deterministic_algorithms(self.deterministic):
                if resume is not None:
                    hooks.on_load_checkpoint(state, resume)
                if ready is not None:
                    ready()
                hooks.before_fit(state)
                self._place(state)
                for _ in self._stages(state):
                    hooks.before_stage(state)
                    for _ in self._epochs(state):
                        hooks.before_epoch(state)
                        for state.epoch_step in range(state.epoch_step, state.steps_per_epoch):
                            hooks.before_step(state)
                            self._step(state)
                            hooks.after_step(state)
                        self._end_epoch(state)
                        if state.record is not None:
                            hooks.on_evaluation(state, state.record)
                            hooks.after_evaluation(state, state.record)
                        hooks.after_epoch(state)
                    hooks.after_stage(state)
                hooks.after_fit(state)
        finally:
            hooks.teardown(state)
        final = state.final or run.read_metrics()[-1]  # or: resumed a run that had nothing left to train
        return TrainResult(final, state.at.train_seconds, state.at.samples, state.at.step, state.at.epoch,
                           state.selection, state.summary)

    def _state(self, method: Method, pair, run, seed: int, extra: dict | None, resume: dict | None) -> FitState:
        """The fit's state before its first step: the sets and streams, the step plan, the position."""
        stages = method.training_stages(pair.target_labeled is not None)
        sets = _training_sets(method, stages, pair)
        orders = _stream_orders(stages, pair, sets, seed)
        streams = {name: BatchStream(parts, self.batch_size, torch.Generator().manual_seed(seed * 1000 + i),
                                     self.device, self.dist.rank, self.dist.world_size, orders.get(name))
                   for i, (name, parts) in enumerate(sets.items())}
        plan = [(stage, self.epochs if stage.epochs is None else stage.epochs,
                 streams[stage.draws[0]].batches_per_pass if stage.stream else
                 self.steps_per_epoch or streams[stage.draws[0]].batches_per_pass) for stage in stages]
        check_plan(plan, self.batch_size)
        at = Position.of(resume, plan)
        state = FitState(self, method, pair, run, seed, plan, sets, streams, Precision(self.precision_setting,
                         self.device), at, resume, dict(extra or {}), start=time.perf_counter() - at.time_s)
        given = default_callbacks() if self.callbacks is None else self.callbacks
        ordered = arrange([*given, *check_callbacks(method.callbacks(), "method.callbacks()")])
        state.callbacks = Callbacks(c for c in ordered if self.dist.rank == 0 or not c.rank_zero_only)
        return state

    def _place(self, state: FitState) -> None:
        """The model on its device (synchronised BatchNorm, channels-last, compiled where asked)."""
        method = state.method
        method.to(self.device)
        self.dist.prepare(method, self.device)
        state.layout = use_channels_last(self.channels_last_setting, method)
        if state.layout:
            method.to(memory_format=torch.channels_last)
        compiled = self.compile and compile_networks(method, self.device)
        self.in_effect = {"precision": state.precision.name, "compiled": compiled, "channels_last": state.layout,
                          "world_size": self.dist.world_size}

    def _stages(self, state: FitState) -> Iterator[None]:
        """Each stage left to train, with fresh optimizers and LR schedules (resume restores them)."""
        for state.stage_index in range(state.at.stage, len(state.plan)):
            if state.stop_reason or state.stage_index == state.at.stage and state.at.stage_epoch >= state.epochs:
                continue
            method, stage = state.method, state.stage
            backbone, biases = body_ids(method.backbone), bias_ids(method)
            state.optimizers = {name: build_optimizer(self.optimizer, scale_lr(scale_lr(
                                    groups, backbone, self.backbone_lr_mult), biases, self.bias_lr_mult),
                                    self.lr, self.momentum, self.weight_decay, self.betas, self.nesterov)
                                for name, groups in method.param_groups(stage).items()}
            state.schedules = {name: build_schedule(self.lr_schedule, opt, state.epochs * state.steps_per_epoch,
                                                    self.lr_alpha, self.lr_beta)
                               for name, opt in state.optimizers.items()}
            state.step_losses = self.dist.step_losses(method)
            yield

    def _epochs(self, state: FitState) -> Iterator[None]:
        """Each epoch left in the stage, its loss sums and first step set (mid-epoch after a resume)."""
        resumed = state.resume is not None and state.stage_index == state.at.stage
        for state.stage_epoch in range(state.at.stage_epoch if resumed else 0, state.epochs):
            if state.stop_reason:
                return
            state.method.train()
            partial, state.at.partial = state.at.partial, None
            if partial is None:
                state.sums, state.epoch_step = state.zeros(), 0
                state.lr = next(iter(state.optimizers.values())).param_groups[0]["lr"]  # at the epoch's first step
                state.method.begin_epoch(state.stage, state.at.epoch,
                                         lambda draw, labels=False: self._inputs(state, draw, labels))
            else:  # resumed mid-epoch: the method's per-epoch state came with its weights
                state.sums, state.lr, state.epoch_step = state.zeros(partial["sums"]), partial["lr"], \
                    partial["epoch_step"]
            state.record, state.tick = None, time.perf_counter()
            yield

    def _step(self, state: FitState) -> None:
        """One optimisation step per optimizer the stage lists, on one batch of each drawn set."""
        batch, n = self._draw(state)
        progress = (state.stage_epoch * state.steps_per_epoch + state.epoch_step) / (state.epochs *
                                                                                     state.steps_per_epoch)
        prefix = len(state.optimizers) > 1
        state.predicted = None
        for name, optimizer in state.optimizers.items():
            ctx = StepContext(progress, state.stage.name, name, state.at.epoch, state.at.step)
            frozen = isinstance(optimizer, Frozen)  # nothing to train: no gradients, no step
            with state.precision.autocast(), torch.no_grad() if frozen else contextlib.nullcontext():
                terms = state.step_losses(batch, ctx)
                loss = sum(terms.values()) if terms else torch.zeros((), device=self.device)
            logged = _logged(ctx, terms)
            if not frozen and terms:  # no term: nothing to learn from this batch, no optimizer or schedule step
                optimizer.zero_grad(set_to_none=True)
                state.precision.backward_and_step(loss, optimizer, self.grad_clip_norm)
                state.schedules[name].step()
            state.predicted = _predicted(ctx, batch, state.predicted)
            state.losses[name] = terms, loss
            for key, value in [*terms.items(), ("loss", loss), *logged.items()]:
                state.sums[f"{name}/{key}" if prefix else key] += value.detach()
        state.at.samples += n * self.dist.world_size
        state.at.step += 1

    def _end_epoch(self, state: FitState) -> None:
        """Close the epoch's clock and loss means; start its metrics record when it is evaluated."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        state.stop_clock()
        sums = self.dist.average(state.sums)
        state.at.epoch += 1
        every = -(-state.epochs // 50) if self.eval_every == "auto" else self.eval_every  # auto: ~50 per stage
        if (state.stage_epoch + 1) % every == 0 or state.stage_epoch + 1 == state.epochs:
            state.record = state.final = {"epoch": state.at.epoch, "step": state.at.step,
                                          "time_s": time.perf_counter() - state.start, "stage": state.stage.name,
                                          "lr": state.lr,
                                          **{f"train/{k}": v.item() / state.steps_per_epoch for k, v in sums.items()}}

    def _draw(self, state: FitState) -> tuple[Batch, int]:
        """One step's batch, a :class:`Draw` of each set the stage draws (images channels-last where the model is,
        with the items' positions in the set), and its number of samples."""
        draws = {}
        for name in state.stage.draws:
            parts, index = state.streams[name].next_with_index()
            draws[name] = Draw(*self._for_training(state, parts), index=index)
        return (Batch(draws, fetch=lambda draw, index: self._fetch(state, draw, index)),
                sum(len(d) for d in draws.values()))

    def _for_training(self, state: FitState, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """A set's raw parts as a training step sees them: inputs preprocessed for training, channels-last
        where the model is; labels as they are."""
        x, *y = parts
        x = state.pair.prepare(x, train=True)
        return [channels_last(x) if state.layout else x, *y]

    def _fetch(self, state: FitState, draw: str, index: torch.Tensor) -> Draw:
        """:meth:`Batch.fetch`: the items ``index`` of the run's set ``draw`` as :meth:`_draw` gives a batch
        (outside autocast, as there), read without drawing from the set's sampler."""
        _check_drawn(state, draw, f"batch.fetch({draw!r}, ...)")
        index = torch.as_tensor(index, dtype=torch.long)
        size = len(state.sets[draw][0])
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= size):
            raise ValueError(f"batch.fetch({draw!r}, ...): positions {int(index.min())}..{int(index.max())} outside "
                             f"the {draw} set's 0..{size - 1}")
        if len(index) == 0:  # empty parts of the right shapes: from one item, whose augmentation draws its
            # random numbers from a fork of the generators, not from the run's
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                one = self._fetch(state, draw, index.new_zeros(1))
            return Draw(one.x[:0], None if one.y is None else one.y[:0], index.to(one.x.device))
        with torch.autocast(self.device.type, enabled=False), torch.no_grad():
            return Draw(*self._for_training(state, state.streams[draw].fetch(index)), index=index.to(self.device))

    def _inputs(self, state: FitState, draw: str, labels: bool = False) -> Iterator[torch.Tensor]:
        """A training set's inputs in order, preprocessed as for evaluation, or with ``labels`` its labels (for
        :meth:`Method.begin_epoch`)."""
        _check_drawn(state, draw, f"inputs({draw!r})")
        if labels:
            if len(state.sets[draw]) < 2:
                raise ValueError(f"inputs({draw!r}, labels=True): the {draw} set has no labels")
            yield from inputs(state.sets[draw][1], self.eval_batch_size, self.device)
            return
        for batch in inputs(state.sets[draw][0], self.eval_batch_size, self.device):
            yield state.pair.prepare(batch)


def _training_sets(method: Method, stages: list, pair) -> dict:
    """The data each drawn set samples from (the pair's training sets of those names), checked against what the
    method needs."""
    if method.requires_target_labels and pair.target_labeled is None:
        raise ConfigError(f"method {type(method).__name__} needs labeled target samples: set "
                          "dataset.target_labels_per_class=k with k >= 1.")
    available = pair.training_sets()
    needed = dict.fromkeys(d for stage in stages for d in stage.draws)
    missing = [d for d in needed if d not in available]
    if missing:
        hint = f" ({LABELED!r} needs dataset.target_labels_per_class=k with k >= 1)" if LABELED in missing else ""
        raise ConfigError(f"method {type(method).__name__} draws {missing}, which this dataset pair does not have: "
                          f"a stage can draw only the pair's training sets, here {sorted(available)}{hint}.")
    return {d: available[d] for d in needed}


def _stream_orders(stages: list, pair, sets: dict, seed: int) -> dict[str, torch.Tensor]:
    """The order in which each stream stage reads its first draw, one of ``sets`` (dasuite.engine.stream_order)."""
    orders = {}
    for stage in (s for s in stages if s.stream is not None):
        draw, stream = stage.draws[0], stage.stream
        labels = pair.labels(draw)
        if stream.label_shift is not None and labels is None:
            raise ConfigError(f"stage {stage.name!r} orders its stream {draw!r} by class (label_shift="
                              f"{stream.label_shift}), but dasuite keeps no labels for that set: stream target_test.")
        if draw in orders or any(draw in s.draws for s in stages if s.stream is None):
            raise ConfigError(f"the set {draw!r} is read as a stream by stage {stage.name!r} and drawn by another "
                              "stage too; a stream is read by one stage only.")
        n = len(sets[draw][0])
        segments = [size for _, size in pair.target_test_segments or ()] if draw == "target_test" else None
        orders[draw] = stream_order(labels if labels is not None else torch.zeros(n, dtype=torch.long),
                                    stream.order, stream.label_shift, torch.Generator().manual_seed(seed * 1000 + 999),
                                    segments)
    return orders


def _check_drawn(state: FitState, draw: str, call: str) -> None:
    """A clear error for a set the run does not draw (which has no stream to read it)."""
    if draw not in state.sets:
        raise ValueError(f"{call}: this run draws only from {sorted(state.sets)}, not {draw!r}")


def _logged(ctx: StepContext, terms: dict) -> dict[str, torch.Tensor]:
    """The values the step logged with ``ctx.log`` (an error where one is named as a loss term or ``loss``)."""
    clash = sorted(ctx.logged.keys() & {*terms, "loss"})
    if clash:
        raise ValueError(f"ctx.log({clash[0]!r}, ...) in the {ctx.stage!r} stage's {ctx.optimizer!r} step: that name "
                         f"is {'the loss' if clash[0] == 'loss' else 'a loss term'} of the step "
                         f"(terms {sorted(terms)}); log it under another name.")
    return ctx.logged


def _predicted(ctx: StepContext, batch: Batch, earlier: tuple | None) -> tuple | None:
    """``(draw, positions, predicted classes)`` of the items a step predicted with ``ctx.predicted`` (before it
    adapted on them), for :class:`~dasuite.engine.callbacks.online_accuracy.OnlineAccuracy`; once per step."""
    if ctx.prediction is None:
        return earlier
    if earlier is not None:
        raise ValueError("ctx.predicted(...) was called by two optimizers' calls of one step; predict a batch once.")
    draw, logits = ctx.prediction
    return draw, batch[draw].index, logits.argmax(1)
