"""What one :meth:`~dasuite.engine.trainer.Trainer.fit` holds while it runs: the loop fills it,
callbacks (:mod:`dasuite.engine.callbacks`) read it, and :meth:`FitState.checkpoint` turns it into a
checkpoint from which the run goes on exactly.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import torch

from dasuite.engine.checkpoint import rng_state
from dasuite.errors import ConfigError


@dataclass
class Position:
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
    def of(cls, resume: dict | None, plan: list) -> Position:
        if resume is None:
            return cls()
        at = cls(resume["epoch"], resume["step"], resume["stage"], resume["stage_epoch"],
                 resume.get("train_seconds", 0.0), resume.get("samples", 0), resume.get("time_s", 0.0),
                 resume.get("partial"))
        partly = ', and part of the next' if at.partial else ''
        if at.stage >= len(plan):
            raise ConfigError(f"this run has already trained {at.stage + 1} stages ({at.epoch} epochs{partly}), more "
                              f"than the {len(plan)} of its method now; resume with its own config.")
        stage, stage_epochs = plan[at.stage][:2]
        if at.stage_epoch + (at.partial is not None) > stage_epochs:
            # a stage's epochs are trainer.epochs unless the method sets them (method.source_epochs of ADDA, ...)
            key = "trainer.epochs" if stage.epochs is None else f"method.{stage.name}_epochs"
            raise ConfigError(f"{key}={stage_epochs} is fewer than this run has already trained in its "
                              f"{stage.name!r} stage ({at.stage_epoch} epochs{partly}; {at.epoch} in all); resume "
                              f"with its own {key}, or a larger one to extend it.")
        return at


@dataclass
class FitState:
    """The run (set once), the stage, epoch and step in progress, and what callbacks report back."""

    trainer: object  # the Trainer: its settings, ``device`` and ``dist``
    method: torch.nn.Module
    pair: object  # the DomainPair
    run: object  # the RunFolder (rank 0's; a follower's elsewhere)
    seed: int
    plan: list  # [(stage, epochs, steps per epoch)]
    sets: dict  # draw name -> the tensors it samples from
    streams: dict  # draw name -> BatchStream
    precision: object  # the Precision in effect
    at: Position
    resume: dict | None  # the checkpoint this fit continues from
    extra: dict  # what every checkpoint carries besides the training state (config, meta, model input)
    callbacks: object = None  # the Callbacks around the loop
    layout: bool = False  # inputs channels-last
    start: float = field(default_factory=time.perf_counter)  # perf_counter at ``time_s`` 0
    # the stage in progress
    stage_index: int = 0
    optimizers: dict = field(default_factory=dict)
    schedules: dict = field(default_factory=dict)
    step_losses: object = None  # method.step_losses, through DDP under torchrun
    # the epoch and step in progress
    stage_epoch: int = 0
    epoch_step: int = 0
    lr: float = math.nan  # the learning rate at the epoch's first step
    sums: dict = field(default_factory=dict)  # the epoch's sums of loss terms and logged values (tensors on the device)
    losses: dict = field(default_factory=dict)  # this step's optimizer name -> (terms, loss)
    predicted: tuple | None = None  # this step's online predictions: (draw, positions, classes), or None
    tick: float = 0.0  # perf_counter when the epoch's timed steps began
    record: dict | None = None  # this epoch's metrics record, when it is evaluated
    final: dict = field(default_factory=dict)  # the last metrics record
    saved_epoch: int = 0  # the epoch checkpoints/last.pt holds
    stop_reason: str | None = None  # set by :meth:`request_stop`
    selection: dict = field(default_factory=dict)  # the label-free pick's summary fields
    summary: dict = field(default_factory=dict)  # further summary.json fields callbacks add

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    @property
    def rank(self) -> int:
        return self.trainer.dist.rank

    @property
    def stage(self):
        return self.plan[self.stage_index][0]

    @property
    def epochs(self) -> int:
        """The stage's number of epochs."""
        return self.plan[self.stage_index][1]

    @property
    def steps_per_epoch(self) -> int:
        return self.plan[self.stage_index][2]

    @property
    def last_stage(self) -> bool:
        return self.stage_index == len(self.plan) - 1

    @property
    def last_step(self) -> bool:
        """Whether the step in progress (or just done) ends its epoch."""
        return self.epoch_step + 1 == self.steps_per_epoch

    def request_stop(self, reason: str) -> None:
        """End training after the current epoch (its evaluation and checkpoint included)."""
        self.stop_reason = reason

    def stop_clock(self) -> None:
        """Add the time since :attr:`tick` to the training seconds."""
        now = time.perf_counter()
        self.at.train_seconds += now - self.tick
        self.tick = now

    def zeros(self, sums: dict | None = None) -> defaultdict:
        """Loss sums starting at ``sums`` (or empty), on the training device."""
        return defaultdict(lambda: torch.zeros((), device=self.device),
                           {k: v.to(self.device) for k, v in (sums or {}).items()})

    def checkpoint(self, mid_epoch: bool = False) -> dict:
        """Everything :meth:`Trainer.fit` needs to go on exactly from here: after the epoch in progress,
        or (``mid_epoch``) after its current step; callbacks add their state."""
        partial = {"epoch_step": self.epoch_step + 1, "lr": self.lr,
                   "sums": {k: v.cpu() for k, v in self.sums.items()}} if mid_epoch else None
        state = {
            "epoch": self.at.epoch, "step": self.at.step, "stage": self.stage_index,
            "stage_epoch": self.stage_epoch + (not mid_epoch), "partial": partial,
            "train_seconds": self.at.train_seconds, "samples": self.at.samples,
            "time_s": time.perf_counter() - self.start,
            "model": self.method.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedules.items()},
            "samplers": {k: s.state_dict() for k, s in self.streams.items()},
            "rng": rng_state(),
            "record": self.final or None,  # metrics.jsonl's last line: resume writes it again if a crash cut it
            **self.extra,
            "scaler": self.precision.state_dict(),
        }
        self.callbacks.on_save_checkpoint(self, state)
        return state

    def save_checkpoint(self, mid_epoch: bool = False) -> None:
        """Write :meth:`checkpoint` to ``checkpoints/last.pt``."""
        self.run.save_checkpoint(self.checkpoint(mid_epoch))
        if not mid_epoch:
            self.saved_epoch = self.at.epoch
