"""One training loop for every method.

For each stage the method declares, the trainer builds the optimizers from the method's param
groups, then runs ``epochs`` epochs of steps. A step draws one batch from each set the stage
names, calls ``method.training_step`` once per optimizer, sums the returned terms, back-propagates
and steps. After every epoch it evaluates on source validation and target test, appends a line to
metrics.jsonl and saves ``checkpoints/last.pt``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import torch
from tqdm import tqdm

from dasuite.data import DomainPair
from dasuite.engine.evaluate import evaluate
from dasuite.engine.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.sampler import BatchStream
from dasuite.errors import ConfigError, check_number
from dasuite.methods.base import Batch, Method, Stage, StepContext

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


@dataclass
class TrainResult:
    final: dict  # the last metrics.jsonl record
    train_seconds: float  # time inside training steps only
    samples: int  # source + target samples consumed by training steps
    steps: int
    epochs: int

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.train_seconds if self.train_seconds > 0 else float("nan")


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for an absent CUDA device is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or str(device).startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.device={device} but no CUDA device is visible here "
                              "(torch.cuda.is_available() is False); use trainer.device=cpu or auto.")
        return torch.device(device)
    raise ConfigError(f"trainer.device={device!r} is not one of auto, cpu, cuda (or cuda:N).")


class Trainer:
    """Runs a method's stages on a dataset pair and writes the run folder's metrics and checkpoints."""

    def __init__(self, epochs: int = 300, batch_size: int = 32, optimizer: str = "sgd", lr: float = 0.01,
                 momentum: float = 0.9, weight_decay: float = 5e-4, lr_schedule: str = "dann",
                 lr_alpha: float = 10.0, lr_beta: float = 0.75, device: str = "auto",
                 eval_batch_size: int = 1024, progress: bool = True, plots: bool = True):
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"trainer.{key}={value} must be an integer >= 1.")
        for key, value in (("lr", lr), ("lr_alpha", lr_alpha), ("lr_beta", lr_beta)):
            check_number(f"trainer.{key}", value)
        for key, value in (("momentum", momentum), ("weight_decay", weight_decay)):
            check_number(f"trainer.{key}", value, minimum=0)
        if not lr > 0:
            raise ConfigError(f"trainer.lr={lr} must be > 0.")
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"trainer.optimizer={optimizer!r} is not one of {', '.join(OPTIMIZERS)}.")
        if lr_schedule not in SCHEDULES:
            raise ConfigError(f"trainer.lr_schedule={lr_schedule!r} is not one of {', '.join(SCHEDULES)}.")
        self.epochs, self.batch_size, self.eval_batch_size = epochs, batch_size, eval_batch_size
        self.optimizer, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.lr_schedule, self.lr_alpha, self.lr_beta = lr_schedule, lr_alpha, lr_beta
        self.device = resolve_device(device)
        self.progress, self.plots = progress, plots

    def fit(self, method: Method, pair: DomainPair, run: RunFolder, seed: int,
            checkpoint_extra: dict | None = None) -> TrainResult:
        stages = method.stages()
        sets = self._training_sets(method, stages, pair)
        method.to(self.device)
        streams = {name: BatchStream(parts, self.batch_size, torch.Generator().manual_seed(seed * 1000 + i),
                                     self.device)
                   for i, (name, parts) in enumerate(sets.items())}
        plan = [(stage, self.epochs if stage.epochs is None else stage.epochs,
                 streams[stage.draws[0]].batches_per_pass) for stage in stages]
        total = sum(epochs * steps for _, epochs, steps in plan)
        log_every = max(1, sum(epochs for _, epochs, _ in plan) // 10)
        start = time.perf_counter()
        train_seconds, samples, step, epoch, record = 0.0, 0, 0, 0, {}
        with tqdm(total=total, disable=not self.progress, unit="step", dynamic_ncols=True) as bar:
            for stage_index, (stage, epochs, steps_per_epoch) in enumerate(plan):
                bar.set_description(stage.name)
                stage_steps = epochs * steps_per_epoch
                optimizers = {name: build_optimizer(self.optimizer, groups, self.lr, self.momentum,
                                                    self.weight_decay)
                              for name, groups in method.param_groups(stage).items()}
                schedules = {name: build_schedule(self.lr_schedule, opt, stage_steps, self.lr_alpha,
                                                  self.lr_beta) for name, opt in optimizers.items()}
                for stage_epoch in range(epochs):
                    method.train()
                    sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
                    lr = next(iter(optimizers.values())).param_groups[0]["lr"]  # at the epoch's first step
                    tick = time.perf_counter()
                    for i in range(steps_per_epoch):
                        batch, n = self._draw(stage, streams, pair)
                        progress = (stage_epoch * steps_per_epoch + i) / stage_steps
                        for name, opt in optimizers.items():
                            ctx = StepContext(progress, stage.name, name, epoch, step)
                            terms = method.training_step(batch, ctx)
                            loss = sum(terms.values())
                            opt.zero_grad(set_to_none=True)
                            loss.backward()
                            opt.step()
                            schedules[name].step()
                            prefix = "" if len(optimizers) == 1 else f"{name}/"
                            for key, value in terms.items():
                                sums[prefix + key] += value.detach()
                            sums[prefix + "loss"] += loss.detach()
                        samples += n
                        step += 1
                        bar.update()
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    train_seconds += time.perf_counter() - tick
                    epoch += 1
                    record = {"epoch": epoch, "step": step, "time_s": time.perf_counter() - start,
                              "stage": stage.name, "lr": lr}
                    record.update({f"train/{k}": v.item() / steps_per_epoch for k, v in sums.items()})
                    self._check_finite(record)
                    record.update(self._evaluate(method, pair))
                    run.append_metrics(record)
                    run.save_checkpoint({
                        "epoch": epoch, "step": step, "stage": stage_index, "stage_epoch": stage_epoch + 1,
                        "train_seconds": train_seconds, "samples": samples,
                        "model": method.state_dict(),
                        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                        "schedulers": {k: s.state_dict() for k, s in schedules.items()},
                        "samplers": {k: s.state_dict() for k, s in streams.items()},
                        "rng": {"torch": torch.get_rng_state(),
                                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                        **(checkpoint_extra or {}),
                    })
                    bar.set_postfix_str(self._postfix(record), refresh=False)
                    if epoch == 1 or stage_epoch + 1 == epochs or epoch % log_every == 0:
                        log.info("epoch %d (%s) %s", epoch, stage.name, self._postfix(record))
        return TrainResult(record, train_seconds, samples, step, epoch)

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
    def _draw(stage: Stage, streams: dict, pair: DomainPair) -> tuple[Batch, int]:
        fields, n = {}, 0
        names = {"source": ("xs", "ys"), "target": ("xt",), "target_labeled": ("xl", "yl")}
        for draw in stage.draws:
            x, *y = streams[draw].next()
            x_field, *y_field = names[draw]
            fields[x_field] = pair.prepare(x, train=True)
            fields.update(zip(y_field, y))
            n += len(x)
        return Batch(**fields), n

    def _evaluate(self, method: Method, pair: DomainPair) -> dict[str, float]:
        out = {}
        for prefix, data in (("source", pair.source_val), ("target", pair.target_test)):
            for key, value in evaluate(method, data, self.device, self.eval_batch_size, pair.prepare).items():
                out[f"{prefix}/{key}"] = value
        return out

    @staticmethod
    def _check_finite(record: dict) -> None:
        bad = {k: v for k, v in record.items() if k.startswith("train/") and not torch.isfinite(torch.tensor(v))}
        if bad:
            terms = ", ".join(f"{k}={v}" for k, v in record.items() if k.startswith("train/"))
            raise TrainingDiverged(
                f"training diverged in epoch {record['epoch']} (step {record['step']}): {terms}. "
                "Lower trainer.lr or method.trade_off.")

    @staticmethod
    def _postfix(record: dict) -> str:
        parts = [f"loss {record.get('train/loss', float('nan')):.4f}"]
        for prefix in ("source", "target"):
            if f"{prefix}/acc" in record:
                parts.append(f"{prefix} {100 * record[f'{prefix}/acc']:.1f}%")
        return " | ".join(parts)
