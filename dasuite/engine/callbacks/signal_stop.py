"""Ctrl-C and SIGTERM (e.g. Slurm pre-emption) during training (:mod:`dasuite.engine.signals`): the
first stops the run after the current step with a checkpoint that resumes exactly (mid-epoch, or
at the epoch's end) and raises :class:`~dasuite.engine.signals.TrainingInterrupted`. Runs after
every other callback (``after = (Callback,)``), so their step and epoch hooks have run (the epoch's
metrics and best.pt written, a method's callback state complete) before the checkpoint. The
handlers are installed at the first stage and restored when training ends: before and after that
(loading, the initial and final plots of ``trainer.plots``) Ctrl-C stops at once."""

from __future__ import annotations

import logging

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.signals import StopRequests, TrainingInterrupted

log = logging.getLogger("dasuite.engine.trainer")


class SignalStop(Callback):
    after = (Callback,)

    def __init__(self):
        self.requests: StopRequests | None = None

    def before_stage(self, state) -> None:
        if self.requests is None:
            self.requests = StopRequests().__enter__()

    def after_step(self, state) -> None:
        if self.requests.signal is not None and not state.last_step:
            state.stop_clock()
            state.save_checkpoint(mid_epoch=True)
            raise self._interrupted(state, mid_epoch=True)

    def after_epoch(self, state) -> None:
        if self.requests.signal is not None:
            if state.record is None:  # an evaluated epoch was saved by Checkpointing
                state.save_checkpoint()
            raise self._interrupted(state, mid_epoch=False)

    def after_fit(self, state) -> None:
        self.teardown(state)

    def teardown(self, state) -> None:
        if self.requests is not None:
            self.requests.__exit__(None, None, None)
            self.requests = None

    def _interrupted(self, state, mid_epoch: bool) -> TrainingInterrupted:
        at, path = state.at, state.run.path
        where = f"during epoch {at.epoch + 1} after step {at.step}" if mid_epoch else f"after epoch {at.epoch}"
        log.warning("stopped by a signal %s; checkpoint saved. Resume with: dasuite train resume=%s", where, path)
        return TrainingInterrupted(self.requests.signal, f"stopped {where}; resume with: dasuite train resume={path}")
