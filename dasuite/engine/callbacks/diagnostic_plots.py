"""``trainer.plots``: the plots and proxy A-distance of :mod:`dasuite.diagnostics.run`, of the
model before training (not after a resume) and after it; their numbers go to summary.json. Both
run outside the signal handlers of :class:`~dasuite.engine.callbacks.signal_stop.SignalStop` (installed
at the first stage, restored before these final plots): Ctrl-C during the plots stops at once."""

from __future__ import annotations

from dasuite.diagnostics.run import Diagnostics
from dasuite.engine.callbacks.base import Callback


class DiagnosticPlots(Callback):
    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def before_fit(self, state) -> None:
        self.diagnostics = Diagnostics(state.pair, state.device, self.batch_size, state.seed, state.run.plots)
        if state.resume is None:
            self.diagnostics.initial(state.method)

    def after_fit(self, state) -> None:
        state.summary.update(self.diagnostics.final(state.method, state.run.read_metrics()))
