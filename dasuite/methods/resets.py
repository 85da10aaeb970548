"""Putting a test-time method's model back where it started: after every batch (the episodic protocol) or every N
steps (RDumb, Press et al., "RDumb: A simple approach that questions our progress in continual test-time
adaptation", NeurIPS 2023, section 4: reset to the pretrained weights every T = 1000 steps). A callback the method
brings (:meth:`~dasuite.methods.base.Method.callbacks`)."""

from __future__ import annotations

import copy

from dasuite.engine.callbacks.base import Callback


class PeriodicReset(Callback):
    """Every ``every`` steps of a stage, the model's and the optimizers' states as they were when it began."""

    name = "periodic_reset"

    def __init__(self, every: int):
        self.every = every
        self.saved: dict | None = None

    def before_stage(self, state) -> None:
        if self.saved is None:  # a resumed run brought its snapshot (on_load_checkpoint)
            self.saved = {"model": copy.deepcopy(state.method.state_dict()),
                          "optimizers": {k: copy.deepcopy(o.state_dict()) for k, o in state.optimizers.items()}}

    def after_step(self, state) -> None:
        if (state.stage_epoch * state.steps_per_epoch + state.epoch_step + 1) % self.every == 0:
            state.method.load_state_dict(self.saved["model"])
            for name, optimizer in state.optimizers.items():
                optimizer.load_state_dict(copy.deepcopy(self.saved["optimizers"][name]))

    def after_stage(self, state) -> None:
        self.saved = None

    def on_save_checkpoint(self, state, checkpoint: dict) -> None:
        checkpoint.setdefault("callbacks", {})[self.name] = self.saved

    def on_load_checkpoint(self, state, checkpoint: dict) -> None:
        self.saved = (checkpoint.get("callbacks") or {}).get(self.name)
