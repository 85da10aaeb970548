"""Test-only methods, reached through ``method._target_=tests.helpers.<Name>``."""

import os
import signal
import time
from pathlib import Path

from dasuite.methods.dann import DANN
from dasuite.methods.mmd import MMD
from dasuite.methods.shot import SHOT
from dasuite.methods.source_only import SourceOnly
from dasuite.methods.ssrt import SSRT


class FailsInSecondEpoch(SourceOnly):
    """Trains normally for one epoch, then raises."""

    def training_step(self, batch, ctx):
        if ctx.epoch >= 1:
            raise RuntimeError("boom in epoch 2")
        return super().training_step(batch, ctx)


class PausesMidEpoch(DANN):
    """DANN that, at step ``pause_at_step`` and only while ``marker`` does not exist, creates ``marker``
    and waits for ``marker``.go: a test then kills or signals the process at a known point mid-epoch.
    A resumed run (the marker exists) trains straight through, as does a reference run."""

    def __init__(self, backbone, num_classes: int, pause_at_step: int = 10, marker: str = "", **kwargs):
        super().__init__(backbone, num_classes, **kwargs)
        self.pause_at_step, self.marker = pause_at_step, Path(marker)

    def training_step(self, batch, ctx):
        if ctx.step == self.pause_at_step and ctx.optimizer == "main" and not self.marker.exists():
            self.marker.touch()
            go = self.marker.with_name(self.marker.name + ".go")
            for _ in range(12000):  # the test answers within seconds; never wait forever
                if go.exists():
                    break
                time.sleep(0.01)
        return super().training_step(batch, ctx)


class NaNAtStep(SourceOnly):
    """Source-only whose loss turns NaN at step ``nan_step`` (counted from 0), for the divergence guard."""

    def __init__(self, backbone, num_classes: int, nan_step: int = 5, label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.nan_step = nan_step

    def training_step(self, batch, ctx):
        terms = super().training_step(batch, ctx)
        if ctx.step == self.nan_step:
            terms["cls"] = terms["cls"] * float("nan")
        return terms


class SignalsItself:
    """Mixed into a method: it sends itself SIGTERM at step ``signal_at_step`` while ``marker`` does not exist
    (creating it), stopping mid-epoch; a resumed run (the marker exists) trains straight through."""

    def __init__(self, backbone, num_classes: int, signal_at_step: int = 17, marker: str = "", **kwargs):
        super().__init__(backbone, num_classes, **kwargs)
        self.signal_at_step, self.marker = signal_at_step, Path(marker)

    def training_step(self, batch, ctx):
        if ctx.step == self.signal_at_step and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGTERM)
        return super().training_step(batch, ctx)


class SHOTSignalsItself(SignalsItself, SHOT):
    """SHOT stopped mid-epoch in its adaptation stage, whose per-epoch pseudo-labels a resume must keep."""


class MMDSignalsItself(SignalsItself, MMD):
    """MMD stopped mid-epoch: dropout in its bottleneck and two forward passes per step must resume exactly."""


class SSRTSignalsItself(SignalsItself, SSRT):
    """SSRT whose diversity rule asks for a restore at every interval's end (while r > 0.1): stopped right after
    one, its saved weights and pending restore must come back with the checkpoint."""

    def __init__(self, backbone, num_classes: int, **kwargs):
        super().__init__(backbone, num_classes, **kwargs)
        self.watch.drops = lambda: True


class FailsInEpoch(SourceOnly):
    """Source-only that raises in epoch ``fail_epoch`` (counted from 0) while the file ``unless`` does not
    exist: a run with fewer epochs completes, and a resume after creating the file trains through."""

    def __init__(self, backbone, num_classes: int, fail_epoch: int = 3, unless: str = "",
                 label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.fail_epoch, self.unless = fail_epoch, Path(unless)

    def training_step(self, batch, ctx):
        if ctx.epoch == self.fail_epoch and not self.unless.is_file():
            raise RuntimeError(f"boom in epoch {ctx.epoch + 1}")
        return super().training_step(batch, ctx)


class LogsItsInputs(DANN):
    """DANN that logs its source batch's mean input and its head's weight norm (``train/source_mean``,
    ``train/head_norm``) beside its loss terms."""

    def training_step(self, batch, ctx):
        ctx.log("source_mean", batch.xs.mean())
        ctx.log("head_norm", self.head.weight.norm())
        return super().training_step(batch, ctx)


class LogsItsInputsSignalsItself(SignalsItself, LogsItsInputs):
    """A method that logs a value, stopped mid-epoch: the epoch's logged sums must resume exactly."""
