"""The label-free pick (``trainer.select``) kept as ``checkpoints/best.pt``: each evaluation of the
method's last stage is offered to the selector (:mod:`dasuite.engine.selection`), whose choice is
copied from the epoch's checkpoint; its state rides in every checkpoint, so resume keeps the pick.
``trainer.select=null`` leaves it out (no best.pt, no ``best_*`` fields in summary.json)."""

from __future__ import annotations

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.callbacks.checkpointing import Checkpointing
from dasuite.engine.callbacks.evaluation import Evaluation
from dasuite.engine.selection import SELECTORS, selection_for
from dasuite.errors import ConfigError


class ModelSelection(Callback):
    requires = (Checkpointing, Evaluation)  # the validators' scores; best.pt is a copy of the epoch's last.pt

    def __init__(self, select: str = "ensv"):
        if select not in SELECTORS:
            raise ConfigError(f"trainer.select={select!r} is neither a validator nor a selector; valid choices: "
                              f"{', '.join(SELECTORS)} (or null: no label-free pick).")
        self.selection = selection_for(select)
        self.picked: str | None = None

    def on_load_checkpoint(self, state, checkpoint: dict) -> None:
        self.selection.load_state_dict(checkpoint.get("selection"))
        kept = self.selection.kept(state.at.epoch)
        if state.at.partial is None and kept:  # a crash may have cut the copy short
            state.trainer.dist.on_main(self.selection.keep, state.run, kept)

    def on_save_checkpoint(self, state, checkpoint: dict) -> None:
        checkpoint["selection"] = self.selection.state_dict()

    def after_evaluation(self, state, record: dict) -> None:
        self.picked = state.last_stage and self.selection.offer(record)

    def after_epoch(self, state) -> None:
        if self.picked:
            state.trainer.dist.on_main(self.selection.keep, state.run, self.picked)
        self.picked = None

    def after_fit(self, state) -> None:
        state.trainer.dist.on_main(self.selection.finish, state.run)
        state.selection = self.selection.summary()
