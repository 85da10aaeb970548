"""One training loop for every method.

For each stage the method declares, the trainer builds the optimizers from the method's param
groups, then runs ``epochs`` epochs of steps. Each epoch starts with ``method.begin_epoch``; a step
draws one batch from each set the stage names, calls ``method.step_losses`` (the method's
``training_step`` plus the shared target-label term) once per optimizer, sums the returned terms,
back-propagates and steps. After every ``trainer.eval_every``-th epoch of a stage and its last, it
evaluates on source validation and target test, appends a line to metrics.jsonl and saves
``checkpoints/last.pt`` (so the checkpoint always sits at the last line of metrics.jsonl).

Reliability (DESIGN.md, "Resume and failures"): ``fit(resume=checkpoint)`` restores the model,
optimizers, schedulers, samplers and random states and goes on from the checkpoint's position, to
the same numbers as a run never stopped. A NaN/inf loss stops the run
(:mod:`~dasuite.engine.divergence`) without saving the diverged weights; SIGINT/SIGTERM stop it
after the current step with a checkpoint that resumes mid-epoch (:mod:`~dasuite.engine.signals`).

Scale (docs/scaling.md): steps run under ``trainer.precision``'s autocast (:mod:`~dasuite.engine.precision`),
optionally compiled (:mod:`~dasuite.engine.compile`) and channels-last (:mod:`~dasuite.engine.placement`);
under torchrun, through DDP with sharded samplers and rank 0 evaluating (:mod:`~dasuite.engine.distributed`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from dasuite.data import DomainPair
from dasuite.engine.checkpoint import rng_state, set_rng_state
from dasuite.engine.compile import compile_networks
from dasuite.engine.determinism import deterministic_algorithms
from dasuite.engine.distributed import Distributed
from dasuite.engine.divergence import DivergenceGuard, TrainingDiverged
from dasuite.engine.evaluate import embed, evaluate, inputs
from dasuite.engine.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule, check_betas, scale_backbone
from dasuite.engine.placement import channels_last, check_channels_last, use_channels_last
from dasuite.engine.plan import check_plan
from dasuite.engine.precision import Precision, check_precision
from dasuite.engine.predictions import predictions_file, save_predictions
from dasuite.engine.probe import mixture_probe
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.sampler import BatchStream, subset
from dasuite.engine.selection import SELECTORS, selection_for
from dasuite.engine.signals import StopRequests, TrainingInterrupted
from dasuite.errors import ConfigError, check_number
from dasuite.methods.base import Batch, Method, Stage, StepContext
from dasuite.validators import Outputs, score
from dasuite.validators.collapse import collapse_guard

log = logging.getLogger(__name__)

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "resolve_device"]


@dataclass
class TrainResult:
    final: dict  # the last metrics.jsonl record
    train_seconds: float  # time inside training steps only
    samples: int  # source + target samples consumed by training steps
    steps: int
    epochs: int
    selection: dict  # the label-free pick (Selection.summary)

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


@dataclass
class _Position:
    """Where training stands: epochs and steps done (in all, and the stage's), and the totals so far."""

    epoch: int = 0
    step: int = 0
    stage: int = 0
    stage_epoch: int = 0  # epochs done in stage ``stage``
    train_seconds: float = 0.0
    samples: int = 0
    time_s: float = 0.0
    partial: dict | None = None  # a checkpoint written mid-epoch: the steps done in it and their loss sums

    @classmethod
    def of(cls, resume: dict | None, plan: list, epochs: int) -> _Position:
        if resume is None:
            return cls()
        at = cls(resume["epoch"], resume["step"], resume["stage"], resume["stage_epoch"],
                 resume.get("train_seconds", 0.0), resume.get("samples", 0), resume.get("time_s", 0.0),
                 resume.get("partial"))
        if at.stage >= len(plan) or at.stage_epoch + (at.partial is not None) > plan[at.stage][1]:
            raise ConfigError(f"trainer.epochs={epochs} is fewer than this run has already trained "
                              f"({at.epoch} epochs{', and part of the next' if at.partial else ''}); resume with "
                              "its own trainer.epochs, or a larger one to extend it.")
        return at

    def take_partial(self, stage: int, stage_epoch: int) -> dict | None:
        """The mid-epoch state to continue epoch ``stage_epoch`` of stage ``stage`` from, once."""
        if self.partial is None or (stage, stage_epoch) != (self.stage, self.stage_epoch):
            return None
        partial, self.partial = self.partial, None
        return partial


class Trainer:
    """Runs a method's stages on a dataset pair and writes the run folder's metrics and checkpoints."""

    def __init__(self, epochs: int = 300, batch_size: int = 32, optimizer: str = "sgd", lr: float = 0.01,
                 momentum: float = 0.9, weight_decay: float = 5e-4, betas: tuple = (0.9, 0.999),
                 lr_schedule: str = "dann",
                 lr_alpha: float | None = None, lr_beta: float = 0.75, device: str = "auto",
                 eval_batch_size: int = 1024, progress: bool = True, plots: bool = True,
                 deterministic: bool = False, select: str = "ensv", validation_samples: int = 2000,
                 collapse_min_classes: float = 0.5, collapse_min_entropy: float = 0.5, precision: str | int = 32,
                 compile: bool = False, channels_last: str | bool = "auto", distributed: str | bool = "auto",
                 sync_batchnorm: bool = False, eval_every: int | str = "auto", steps_per_epoch: int | None = None,
                 backbone_lr_mult: float = 1.0):
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if isinstance(value, bool) or not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"trainer.{key}={value} must be an integer >= 1.")
        if steps_per_epoch is not None and (isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int)
                                            or steps_per_epoch < 1):
            raise ConfigError(f"trainer.steps_per_epoch={steps_per_epoch!r} must be null (one pass over the "
                              "stage's first drawn set) or an integer >= 1.")
        self.steps_per_epoch = steps_per_epoch
        for key, value in (("lr", lr), ("lr_alpha", lr_alpha), ("lr_beta", lr_beta)):
            if value is not None or key != "lr_alpha":
                check_number(f"trainer.{key}", value)
        for key, value in (("momentum", momentum), ("weight_decay", weight_decay),
                           ("backbone_lr_mult", backbone_lr_mult)):
            check_number(f"trainer.{key}", value, minimum=0)
        if not lr > 0:
            raise ConfigError(f"trainer.lr={lr} must be > 0.")
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"trainer.optimizer={optimizer!r} is not one of {', '.join(OPTIMIZERS)}.")
        for key, value in (("progress", progress), ("plots", plots), ("deterministic", deterministic)):
            if not isinstance(value, bool):
                raise ConfigError(f"trainer.{key}={value!r} must be true or false.")
        if lr_schedule not in SCHEDULES:
            raise ConfigError(f"trainer.lr_schedule={lr_schedule!r} is not one of {', '.join(SCHEDULES)}.")
        self.epochs, self.batch_size, self.eval_batch_size = epochs, batch_size, eval_batch_size
        self.optimizer, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.betas, self.backbone_lr_mult = check_betas(betas), backbone_lr_mult
        self.lr_schedule, self.lr_alpha, self.lr_beta = lr_schedule, lr_alpha, lr_beta
        if select not in SELECTORS:
            raise ConfigError(f"trainer.select={select!r} is neither a validator nor a selector; valid choices: "
                              f"{', '.join(SELECTORS)}.")
        if isinstance(validation_samples, bool) or not isinstance(validation_samples, int) or validation_samples < 2:
            raise ConfigError(f"trainer.validation_samples={validation_samples!r} must be an integer >= 2.")
        for key, value in (("collapse_min_classes", collapse_min_classes), ("collapse_min_entropy", collapse_min_entropy)):
            check_number(f"trainer.{key}", value, minimum=0)
            if value > 1:
                raise ConfigError(f"trainer.{key}={value} must lie in [0, 1].")
        if eval_every != "auto" and (isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1):
            raise ConfigError(f"trainer.eval_every={eval_every!r} must be auto or an integer >= 1 (epochs between "
                              "evaluations).")
        self.eval_every = eval_every
        self.select, self.validation_samples = select, validation_samples
        self.collapse_min_classes, self.collapse_min_entropy = collapse_min_classes, collapse_min_entropy
        for key, value in (("compile", compile), ("sync_batchnorm", sync_batchnorm)):
            if not isinstance(value, bool):
                raise ConfigError(f"trainer.{key}={value!r} must be true or false.")
        self.precision_setting, self.compile = check_precision(precision), compile
        self.channels_last_setting = check_channels_last(channels_last)
        self.dist = Distributed(distributed, sync_batchnorm)
        self.device = self.dist.device(resolve_device(device))
        self.in_effect: dict = {}  # what fit() runs with: precision, compiled, channels_last, world_size
        self.progress, self.plots, self.deterministic = progress, plots and self.dist.rank == 0, deterministic

    def fit(self, method: Method, pair: DomainPair, run: RunFolder, seed: int,
            checkpoint_extra: dict | None = None, resume: dict | None = None) -> TrainResult:
        """Train ``method`` on ``pair``, from the start or from the checkpoint ``resume``."""
        stages = method.training_stages(pair.target_labeled is not None)
        sets = self._training_sets(method, stages, pair)
        method.to(self.device)
        self.dist.prepare(method, self.device)
        layout = use_channels_last(self.channels_last_setting, method)
        if layout:
            method.to(memory_format=torch.channels_last)
        precision = Precision(self.precision_setting, self.device)
        compiled = self.compile and compile_networks(method, self.device)
        self.in_effect = {"precision": precision.name, "compiled": compiled, "channels_last": layout,
                          "world_size": self.dist.world_size}
        streams = {name: BatchStream(parts, self.batch_size, torch.Generator().manual_seed(seed * 1000 + i),
                                     self.device, self.dist.rank, self.dist.world_size)
                   for i, (name, parts) in enumerate(sets.items())}
        plan = [(stage, self.epochs if stage.epochs is None else stage.epochs,
                 self.steps_per_epoch or streams[stage.draws[0]].batches_per_pass) for stage in stages]
        total = check_plan(plan, self.batch_size)
        log_every = max(1, sum(epochs for _, epochs, _ in plan) // 10)
        at = _Position.of(resume, plan, self.epochs)
        if resume is not None:
            self._restore(resume, streams)
            precision.load_state_dict(resume.get("scaler"))
        trade_off = getattr(method, "trade_off", None)
        guard = DivergenceGuard(self.device, f"Lower trainer.lr (now {self.lr:g})." if trade_off is None else
                                f"Lower trainer.lr or method.trade_off (now trainer.lr={self.lr:g}, "
                                f"method.trade_off={trade_off:g}).")
        guard.saved_epoch = at.epoch
        start = time.perf_counter() - at.time_s
        extra = dict(checkpoint_extra or {})
        selection = selection_for(self.select)
        validation_target = self._validation_target(pair, seed)
        if resume is not None:
            selection.load_state_dict(resume.get("selection"))
            kept = selection.kept(at.epoch)
            if at.partial is None and kept:  # a crash may have cut the copy short
                self.dist.on_main(selection.keep, run, kept)
        extra["selection"] = selection.state_dict()
        record: dict = {}
        with deterministic_algorithms(self.deterministic), StopRequests() as stop, \
                tqdm(total=total, initial=at.step, disable=not self.progress, unit="step", dynamic_ncols=True) as bar:
            for stage_index, (stage, epochs, steps_per_epoch) in enumerate(plan):
                if stage_index < at.stage or (stage_index == at.stage and at.stage_epoch >= epochs):
                    continue
                bar.set_description(stage.name)
                stage_steps = epochs * steps_per_epoch
                backbone = {id(p) for key, p in method.backbone.named_parameters() if not key.startswith("bottleneck")}
                optimizers = {name: build_optimizer(self.optimizer,
                                                    scale_backbone(groups, backbone, self.backbone_lr_mult),
                                                    self.lr, self.momentum, self.weight_decay, self.betas)
                              for name, groups in method.param_groups(stage).items()}
                schedules = {name: build_schedule(self.lr_schedule, opt, stage_steps, self.lr_alpha,
                                                  self.lr_beta) for name, opt in optimizers.items()}
                first_epoch = 0
                if stage_index == at.stage and resume is not None:
                    for name, opt in optimizers.items():
                        opt.load_state_dict(resume["optimizers"][name])
                        schedules[name].load_state_dict(resume["schedulers"][name])
                    first_epoch = at.stage_epoch
                step_losses = self.dist.step_losses(method)
                for stage_epoch in range(first_epoch, epochs):
                    method.train()
                    partial = at.take_partial(stage_index, stage_epoch)
                    if partial is None:
                        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
                        lr = next(iter(optimizers.values())).param_groups[0]["lr"]  # at the epoch's first step
                        first_step = 0
                        method.begin_epoch(stage, at.epoch, lambda draw: self._inputs(sets[draw][0], pair))
                    else:  # resumed mid-epoch: the method's per-epoch state came with its weights
                        sums = defaultdict(lambda: torch.zeros((), device=self.device),
                                           {k: v.to(self.device) for k, v in partial["sums"].items()})
                        lr, first_step = partial["lr"], partial["epoch_step"]
                    tick = time.perf_counter()
                    for i in range(first_step, steps_per_epoch):
                        batch, n = self._draw(stage, streams, pair, layout)
                        progress = (stage_epoch * steps_per_epoch + i) / stage_steps
                        for name, opt in optimizers.items():
                            ctx = StepContext(progress, stage.name, name, at.epoch, at.step)
                            with precision.autocast():
                                terms = step_losses(batch, ctx)
                                loss = sum(terms.values())
                            guard.observe(at.step + 1, f"epoch {at.epoch + 1}, stage {stage.name}, optimizer {name}",
                                          terms, loss)
                            opt.zero_grad(set_to_none=True)
                            precision.backward_and_step(loss, opt)
                            schedules[name].step()
                            prefix = "" if len(optimizers) == 1 else f"{name}/"
                            for key, value in terms.items():
                                sums[prefix + key] += value.detach()
                            sums[prefix + "loss"] += loss.detach()
                        at.samples += n * self.dist.world_size
                        at.step += 1
                        bar.update()
                        if stop.signal is not None and i + 1 < steps_per_epoch:
                            guard.check()
                            at.train_seconds += time.perf_counter() - tick
                            partial = {"epoch_step": i + 1, "lr": lr, "sums": {k: v.cpu() for k, v in sums.items()}}
                            extra["scaler"] = precision.state_dict()
                            run.save_checkpoint(self._state(method, optimizers, schedules, streams, at, stage_index,
                                                            stage_epoch, start, extra, partial))
                            raise self._interrupted(stop.signal, at, run, mid_epoch=True)
                    guard.check()
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    at.train_seconds += time.perf_counter() - tick
                    sums = self.dist.average(sums)
                    extra["scaler"] = precision.state_dict()
                    at.epoch += 1
                    evaluated = self._evaluates(stage_epoch + 1, epochs)
                    picked = False
                    if evaluated:
                        record = {"epoch": at.epoch, "step": at.step, "time_s": time.perf_counter() - start,
                                  "stage": stage.name, "lr": lr}
                        record.update({f"train/{k}": v.item() / steps_per_epoch for k, v in sums.items()})
                        record.update(self.dist.on_main(self._evaluate, method, pair, validation_target, seed,
                                                        predictions_file(run.path, at.epoch)))
                        picked = stage_index == len(plan) - 1 and selection.offer(record)
                        extra["selection"] = selection.state_dict()
                        run.append_metrics(record)
                    if evaluated or stop.signal is not None:
                        run.save_checkpoint(self._state(method, optimizers, schedules, streams, at, stage_index,
                                                        stage_epoch + 1, start, extra))
                        guard.saved_epoch = at.epoch
                    if picked:
                        self.dist.on_main(selection.keep, run, picked)
                    if evaluated:
                        bar.set_postfix_str(self._postfix(record), refresh=False)
                        if at.epoch == 1 or stage_epoch + 1 == epochs or at.epoch % log_every == 0:
                            log.info("epoch %d (%s) %s", at.epoch, stage.name, self._postfix(record))
                    if stop.signal is not None:
                        raise self._interrupted(stop.signal, at, run, mid_epoch=False)
        self.dist.on_main(selection.finish, run)
        if not record:  # resumed a run that had nothing left to train
            record = run.read_metrics()[-1]
        return TrainResult(record, at.train_seconds, at.samples, at.step, at.epoch, selection.summary())

    @staticmethod
    def _state(method: Method, optimizers: dict, schedules: dict, streams: dict, at: _Position, stage: int,
               stage_epoch: int, start: float, extra: dict, partial: dict | None = None) -> dict:
        """The checkpoint: everything :meth:`fit` needs to go on exactly from here."""
        return {
            "epoch": at.epoch, "step": at.step, "stage": stage, "stage_epoch": stage_epoch, "partial": partial,
            "train_seconds": at.train_seconds, "samples": at.samples, "time_s": time.perf_counter() - start,
            "model": method.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in schedules.items()},
            "samplers": {k: s.state_dict() for k, s in streams.items()},
            "rng": rng_state(),
            **extra,
        }

    @staticmethod
    def _interrupted(signum: int, at: _Position, run: RunFolder, mid_epoch: bool) -> TrainingInterrupted:
        where = f"during epoch {at.epoch + 1} after step {at.step}" if mid_epoch else f"after epoch {at.epoch}"
        log.warning("stopped by a signal %s; checkpoint saved. Resume with: dasuite train resume=%s", where, run.path)
        return TrainingInterrupted(signum, f"stopped {where}; resume with: dasuite train resume={run.path}")

    @staticmethod
    def _restore(resume: dict, streams: dict) -> None:
        """The samplers' positions and the global random states of a checkpoint."""
        if set(resume["samplers"]) != set(streams):
            raise ConfigError(f"the checkpoint draws from {sorted(resume['samplers'])} but this run from "
                              f"{sorted(streams)}: it belongs to another method or dataset setting.")
        for name, stream in streams.items():
            try:
                stream.load_state_dict(resume["samplers"][name])
            except ValueError as error:
                raise ConfigError(f"the {name} training set changed since the checkpoint was written ({error}); "
                                  "resume needs the same data.") from error
        set_rng_state(resume["rng"])

    def _training_sets(self, method: Method, stages: list[Stage], pair: DomainPair) -> dict:
        """The data each drawn set samples from, checked against what the method needs."""
        if method.requires_target_labels and pair.target_labeled is None:
            raise ConfigError(f"method {type(method).__name__} needs labeled target samples: set "
                              "dataset.target_labels_per_class=k with k >= 1.")
        available = {"source": (pair.source_train.x, pair.source_train.y), "target": (pair.target_train,)}
        if pair.target_labeled is not None:
            available["target_labeled"] = (pair.target_labeled.x, pair.target_labeled.y)
        needed = dict.fromkeys(d for stage in stages for d in stage.draws)
        missing = [d for d in needed if d not in available]
        if missing:
            raise ConfigError(f"method {type(method).__name__} draws {missing} but the pair has none: "
                              "set dataset.target_labels_per_class=k with k >= 1.")
        return {d: available[d] for d in needed}

    @staticmethod
    def _draw(stage: Stage, streams: dict, pair: DomainPair, layout: bool = False) -> tuple[Batch, int]:
        """One step's batch (images channels-last with ``layout``) and its number of samples."""
        fields, n = {}, 0
        names = {"source": ("xs", "ys"), "target": ("xt",), "target_labeled": ("xl", "yl")}
        for draw in stage.draws:
            x, *y = streams[draw].next()
            x_field, *y_field = names[draw]
            fields[x_field] = channels_last(pair.prepare(x, train=True)) if layout else pair.prepare(x, train=True)
            fields.update(zip(y_field, y))
            n += len(x)
        return Batch(**fields), n

    def _inputs(self, x, pair: DomainPair) -> Iterator[torch.Tensor]:
        """A training set's inputs in order, preprocessed as for evaluation (for :meth:`Method.begin_epoch`)."""
        for batch in inputs(x, self.eval_batch_size, self.device):
            yield pair.prepare(batch)

    def _evaluates(self, stage_epochs_done: int, stage_epochs: int) -> bool:
        """Whether the epoch just ended is evaluated: every ``eval_every`` epochs of a stage and its last;
        ``auto`` evaluates about 50 times per stage (every epoch of a stage of up to 50)."""
        every = -(-stage_epochs // 50) if self.eval_every == "auto" else self.eval_every
        return stage_epochs_done % every == 0 or stage_epochs_done == stage_epochs

    def _validation_target(self, pair: DomainPair, seed: int):
        """The fixed, seeded subsample of unlabeled target train inputs the validators score."""
        n = len(pair.target_train)
        if n <= self.validation_samples:
            return pair.target_train
        index = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: self.validation_samples].sort().values
        return subset(pair.target_train, index)

    def _evaluate(self, method: Method, pair: DomainPair, validation_target, seed: int, predictions: Path) -> dict:
        """Accuracy and loss on source validation and target test, the validators' ``val/*`` scores
        and the collapse guard's ``guard/*`` (these two from unlabeled target train samples only); the
        target sample's softmax predictions go to the file ``predictions`` (for EnsV)."""
        out = {}
        for prefix, data in (("source", pair.source_val), ("target", pair.target_test)):
            for key, value in evaluate(method, data, self.device, self.eval_batch_size, pair.prepare).items():
                out[f"{prefix}/{key}"] = value
        source = embed(method, pair.source_val.x, self.device, self.eval_batch_size, pair.prepare)
        target = embed(method, validation_target, self.device, self.eval_batch_size, pair.prepare)
        probe = mixture_probe(method, validation_target, self.device, self.eval_batch_size, pair.prepare)
        outputs = Outputs(*source, pair.source_val.y.cpu(), *target, seed=seed, probe=probe)
        out.update({f"val/{name}": value for name, value in score(outputs).items()})
        save_predictions(predictions, outputs.target_probabilities)
        out.update(collapse_guard(outputs.target_logits, self.collapse_min_classes, self.collapse_min_entropy))
        return out

    @staticmethod
    def _postfix(record: dict) -> str:
        parts = [f"loss {record.get('train/loss', float('nan')):.4f}"]
        for prefix in ("source", "target"):
            if f"{prefix}/acc" in record:
                parts.append(f"{prefix} {100 * record[f'{prefix}/acc']:.1f}%")
        return " | ".join(parts)
