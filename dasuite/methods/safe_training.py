"""SSRT's safe training (Sun et al., CVPR 2022; official code github.com/tsun/SSRT, ``model/SSRT.py``): the
diversity rule that decides when the model has gone wrong (:class:`DiversityWatch`, held by the method, which
ramps its refinement with it and records the diversity of each step's target predictions), and the callback
that saves the weights at each interval's start and restores them when the rule asks (:class:`SafeTraining`).

The official code saves and restores inside the loss computation of a step; here the callback does it
between steps (its ``before_step``, which runs where the official ``get_loss`` begins: same weights, same
numbers), and takes the decision after the interval's last step. Under torchrun the ranks' diversities are
averaged before the decision, so every rank decides alike, restores the same weights at the same step, and
DDP's replicas stay equal (each rank's diversity is that of its own share of the batch). The saved weights and
a pending restore ride in the checkpoint (``callbacks/ssrt_safe_training``), so a resume goes on exactly.
"""

from __future__ import annotations

import logging
import math
from itertools import chain

import torch

from dasuite.engine.callbacks.base import Callback

log = logging.getLogger("dasuite.methods.ssrt")


class DiversityWatch:
    """Safe training's schedule: the ramp r and the diversity-drop rule that asks for a restore. ``interval``
    steps between two checks (and saves); the ramp lasts ``period`` steps, first ``interval``."""

    def __init__(self, interval: int, levels: int):
        self.interval, self.period, self.levels = interval, interval, levels
        self.phase, self.last_restore = 0, 0
        self.diversity: list[float] = []
        self.last_period: list[float] | None = None

    def ramp(self, step: int) -> float:
        """r at ``step``: a quarter sine from 0 to 1 over ``period`` steps after the last restart."""
        if step >= self.phase + self.period:
            return 1.0
        return math.sin((step - self.phase) / self.period * math.pi / 2)

    def drops(self) -> bool:
        """Whether the mean diversity of some sub-interval is more than one class below the one before it."""
        for level in range(self.levels + 1):
            means = [_mean(c) for c in _split(self.diversity, 2 ** level)]
            if self.last_period is not None:
                means.insert(0, _mean(_split(self.last_period, 2 ** level)[-1]))
            if any(later < earlier - 1.0 for earlier, later in zip(means, means[1:])):
                return True
        return False

    def end_interval(self, step: int, r: float) -> bool:
        """At an interval's last step: True when the weights must be restored (the ramp then restarts)."""
        if r > 0.1 and self.drops():
            if step - self.last_restore <= self.period:
                self.period *= 2
            self.phase = step
            return True
        self.last_period = self.diversity
        return False

    def state_dict(self) -> dict:
        return {"interval": self.interval, "period": self.period, "phase": self.phase,
                "last_restore": self.last_restore, "diversity": list(self.diversity), "last_period": self.last_period}

    def load_state_dict(self, state: dict) -> None:
        self.interval, self.period = state["interval"], state["period"]
        self.phase, self.last_restore = state["phase"], state["last_restore"]
        self.diversity, self.last_period = list(state["diversity"]), state["last_period"]


def _split(values: list[float], chunks: int) -> list[list[float]]:
    """``values`` in ``chunks`` consecutive parts as even as possible (as numpy.array_split)."""
    size, extra = divmod(len(values), chunks)
    parts, start = [], 0
    for i in range(chunks):
        end = start + size + (i < extra)
        parts.append(values[start:end])
        start = end
    return parts


def _mean(values: list[float]) -> float:
    """The mean; NaN for no values (so it compares as no drop)."""
    return sum(values) / len(values) if values else math.nan


class SafeTraining(Callback):
    """Saves ``method``'s weights (every parameter and buffer) at the start of each ``method.watch.interval``
    steps and restores them at the step after an interval whose diversity dropped (the ramp then restarts)."""

    name = "ssrt_safe_training"  # its entry in the checkpoint's callbacks

    def __init__(self, method: torch.nn.Module):
        self.method = method
        self.snapshot: dict[str, torch.Tensor] | None = None
        self.restore = False

    def before_step(self, state) -> None:
        step, watch = state.at.step, self.method.watch
        if self.restore and step > 0 and self.snapshot is not None:
            with torch.no_grad():
                for name, tensor in self._weights():
                    tensor.copy_(self.snapshot[name])
            watch.last_restore = step
            log.info("SSRT safe training: target prediction diversity dropped; step %d restarts from the weights "
                     "saved at step %d (ramp period now %d steps).", step, step - watch.interval, watch.period)
        self.restore = False
        if step % watch.interval == 0:
            self.snapshot = {name: tensor.detach().clone() for name, tensor in self._weights()}
            watch.diversity = []

    def after_step(self, state) -> None:
        step, watch = state.at.step - 1, self.method.watch  # the step just taken
        if (step + 1) % watch.interval == 0 and step > 0:
            if state.trainer.dist.world_size > 1:
                mean = state.trainer.dist.average({"diversity": torch.tensor(watch.diversity, device=state.device)})
                watch.diversity = mean["diversity"].tolist()
            self.restore = watch.end_interval(step, watch.ramp(step))

    def on_save_checkpoint(self, state, checkpoint: dict) -> None:
        checkpoint.setdefault("callbacks", {})[self.name] = {"restore": self.restore, "snapshot": self.snapshot}

    def on_load_checkpoint(self, state, checkpoint: dict) -> None:
        saved = (checkpoint.get("callbacks") or {}).get(self.name)
        if saved is None:  # written when the method kept them in its own state (get_extra_state)
            prefix = next(name for name, module in state.method.named_modules() if module is self.method)
            saved = checkpoint["model"].get(f"{prefix}._extra_state" if prefix else "_extra_state") or {}
        self.restore, self.snapshot = saved.get("restore", False), saved.get("snapshot")

    def _weights(self):
        return chain(self.method.named_parameters(), self.method.named_buffers())
