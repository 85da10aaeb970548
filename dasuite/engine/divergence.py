"""The divergence guard: stop training at the first NaN or infinite loss, naming the step and the terms.

On the CPU every step's loss is checked at once. On an accelerator a check would synchronise the
host with the device every step, so the first non-finite step and its loss terms are recorded on
the device and read back only every ``check_every`` steps and at the end of each epoch: the run
then stops within ``check_every`` steps of the bad one, with that step's exact values. The trainer
never saves the weights it holds when the guard trips, so ``checkpoints/last.pt`` keeps the last
epoch it saved (evaluated) before.
"""

from __future__ import annotations

import math

import torch


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; ``fields`` go into summary.json."""

    def __init__(self, message: str, fields: dict):
        super().__init__(message)
        self.fields = fields


class DivergenceGuard:
    """Watches each optimizer step's loss terms; :meth:`check` raises :class:`TrainingDiverged`."""

    def __init__(self, device: torch.device, hint: str, check_every: int = 100):
        self.on_host = device.type == "cpu"
        self.hint, self.check_every = hint, check_every
        self.records: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # (where, names) -> (step, values)
        self.saved_epoch = 0  # the epoch of checkpoints/last.pt, kept by the trainer

    def observe(self, step: int, where: str, terms: dict[str, torch.Tensor], loss: torch.Tensor) -> None:
        """Record the terms of optimisation step ``step`` (counted from 1, as metrics.jsonl's ``step``);
        ``where`` names the epoch, stage and optimizer for the message."""
        names = ("loss", *terms)
        values = torch.stack([loss.detach().float(), *(v.detach().float().reshape(()) for v in terms.values())])
        if self.on_host:
            if not bool(torch.isfinite(values).all()):
                self._raise(step, where, names, values.tolist())
            return
        key = (where, names)
        if key not in self.records:
            self.records[key] = (torch.full((), -1, dtype=torch.int64, device=values.device),
                                 torch.zeros_like(values))
        first, recorded = self.records[key]
        take = (first < 0) & ~torch.isfinite(values).all()
        self.records[key] = (torch.where(take, step, first), torch.where(take, values, recorded))
        if step % self.check_every == 0:
            self.check()

    def check(self) -> None:
        """Raise for the earliest non-finite step recorded so far (one host sync on an accelerator)."""
        if self.on_host or not self.records:
            return
        steps = torch.stack([first for first, _ in self.records.values()]).tolist()
        bad = [(s, key) for s, key in zip(steps, self.records) if s >= 0]
        if bad:
            step, (where, names) = min(bad)
            self._raise(step, where, names, self.records[(where, names)][1].tolist())
        self.records.clear()

    def _raise(self, step: int, where: str, names: tuple, values: list[float]) -> None:
        terms = {k: v if math.isfinite(v) else str(v) for k, v in zip(names, values)}  # JSON has no NaN
        shown = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in terms.items())
        raise TrainingDiverged(
            f"training diverged at step {step} ({where}): a loss term is NaN or infinite: {shown}. "
            + (f"checkpoints/last.pt keeps epoch {self.saved_epoch}, saved before it. " if self.saved_epoch else
               "No checkpoint was written. ") + self.hint,
            {"diverged_step": step, "diverged_at": where, "loss_terms": terms})
