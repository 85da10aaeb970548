"""``trainer.plots``: the plots and proxy A-distance of :mod:`dasuite.diagnostics.run`, of the
model before training (not after a resume) and after it; their numbers go to summary.json. Both
run outside the signal handlers of :class:`~dasuite.engine.callbacks.signal_stop.SignalStop` (installed
at the first stage, restored before these final plots): Ctrl-C during the plots stops at once. Rank 0
only under torchrun."""

from __future__ import annotations

from dasuite.diagnostics.run import Diagnostics
from dasuite.engine.callbacks.base import Callback
from dasuite.engine.callbacks.signal_stop import SignalStop


class DiagnosticPlots(Callback):
    """``batch_size``: of the forward passes (None: ``trainer.eval_batch_size``)."""

    after = (SignalStop,)  # after_fit: the final plots once the signal handlers are restored
    rank_zero_only = True

    def __init__(self, batch_size: int | None = None):
        self.batch_size = batch_size

    def before_fit(self, state) -> None:
        self.diagnostics = Diagnostics(state.pair, state.device, self.batch_size or state.trainer.eval_batch_size,
                                       state.seed, state.run.plots)
        if state.resume is None:
            self.diagnostics.initial(state.method)

    def after_fit(self, state) -> None:
        state.summary.update(self.diagnostics.final(state.method, state.run.read_metrics()))
