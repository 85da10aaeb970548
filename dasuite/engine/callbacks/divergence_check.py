"""The divergence guard (:mod:`dasuite.engine.divergence`) around the loop: every optimizer step's
loss terms are watched, checked at the end of each epoch and before any checkpoint is written, so a
NaN/inf loss stops the run at its step without saving the diverged weights."""

from __future__ import annotations

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.callbacks.checkpointing import Checkpointing
from dasuite.engine.divergence import DivergenceGuard


class DivergenceCheck(Callback):
    after = (Checkpointing,)  # after_epoch: the epoch last.pt now holds

    def before_fit(self, state) -> None:
        self.guard = DivergenceGuard(state.device, hint(state.trainer.lr, state.method))
        self.guard.saved_epoch = state.saved_epoch

    def after_step(self, state) -> None:
        where = f"epoch {state.at.epoch + 1}, stage {state.stage.name}, optimizer "
        for name, (terms, loss) in state.losses.items():
            self.guard.observe(state.at.step, where + name, terms, loss)
        if state.last_step:
            self.guard.check()

    def after_epoch(self, state) -> None:
        self.guard.saved_epoch = state.saved_epoch

    def on_save_checkpoint(self, state, checkpoint: dict) -> None:
        self.guard.check()


def hint(lr: float, method) -> str:
    """What to lower: trainer.lr, and the method's adaptation weight where it declares one
    (:attr:`~dasuite.methods.base.Method.adaptation_weight`: the weight of the adaptation loss, or of DANN's reversed
    gradient)."""
    name = getattr(method, "adaptation_weight", None)
    if name is None:
        return f"Lower trainer.lr (now {lr:g})."
    return f"Lower trainer.lr or method.{name} (now trainer.lr={lr:g}, method.{name}={getattr(method, name):g})."
