"""Putting a test-time method's model back where it started: after every batch (the episodic protocol), every N
steps (RDumb, Press et al., "RDumb: A simple approach that questions our progress in continual test-time
adaptation", NeurIPS 2023, section 4: reset to the pretrained weights every T = 1000 steps), or when the method
says its model has collapsed (SAR's model recovery, Niu et al., ICLR 2023, section 4). Callbacks the method
brings (:meth:`~dasuite.methods.base.Method.callbacks`)."""

from __future__ import annotations

import copy

from dasuite.engine.callbacks.base import Callback


class ResetToStart(Callback):
    """After each step of the stage ``stage`` where :meth:`due` holds, the model's and the optimizers' states as
    they were when that stage began (the snapshot is checkpointed, so a resumed run resets to the same state)."""

    name = "reset_to_start"

    def __init__(self, stage: str):
        self.stage = stage
        self.saved: dict | None = None

    def due(self, state) -> bool:
        raise NotImplementedError

    def before_stage(self, state) -> None:
        if state.stage.name == self.stage and self.saved is None:  # a resumed run brought its snapshot
            self.saved = {"model": copy.deepcopy(state.method.state_dict()),
                          "optimizers": {k: copy.deepcopy(o.state_dict()) for k, o in state.optimizers.items()}}

    def after_step(self, state) -> None:
        if state.stage.name == self.stage and self.due(state):
            state.method.load_state_dict(self.saved["model"])
            for name, optimizer in state.optimizers.items():
                optimizer.load_state_dict(copy.deepcopy(self.saved["optimizers"][name]))

    def after_stage(self, state) -> None:
        self.saved = None

    def on_save_checkpoint(self, state, checkpoint: dict) -> None:
        checkpoint.setdefault("callbacks", {})[self.name] = self.saved

    def on_load_checkpoint(self, state, checkpoint: dict) -> None:
        self.saved = (checkpoint.get("callbacks") or {}).get(self.name)


class PeriodicReset(ResetToStart):
    """Every ``every`` steps of the stage ``stage``."""

    name = "periodic_reset"

    def __init__(self, every: int, stage: str):
        super().__init__(stage)
        self.every = every

    def due(self, state) -> bool:
        return (state.stage_epoch * state.steps_per_epoch + state.epoch_step + 1) % self.every == 0


class RecoveryReset(ResetToStart):
    """Whenever ``collapsed()`` (a method's own test, read after each step) is true."""

    name = "recovery_reset"

    def __init__(self, collapsed, stage: str):
        super().__init__(stage)
        self.collapsed = collapsed

    def due(self, state) -> bool:
        return bool(self.collapsed())
