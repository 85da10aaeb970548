"""Checkpoints and resume: ``checkpoints/last.pt`` after every evaluated epoch (so it always sits at
the last line of metrics.jsonl), and, when resuming, the samplers' positions, the random states, the
loss scaler and each stage's optimizers and schedules as the checkpoint left them."""

from __future__ import annotations

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.checkpoint import set_rng_state
from dasuite.errors import ConfigError


class Checkpointing(Callback):
    def on_load_checkpoint(self, state, checkpoint: dict) -> None:
        if set(checkpoint["samplers"]) != set(state.streams):
            raise ConfigError(f"the checkpoint draws from {sorted(checkpoint['samplers'])} but this run from "
                              f"{sorted(state.streams)}: it belongs to another method or dataset setting.")
        for name, stream in state.streams.items():
            try:
                stream.load_state_dict(checkpoint["samplers"][name])
            except ValueError as error:
                raise ConfigError(f"the {name} training set changed since the checkpoint was written ({error}); "
                                  "resume needs the same data.") from error
        set_rng_state(checkpoint["rng"])
        state.precision.load_state_dict(checkpoint.get("scaler"))
        state.saved_epoch = state.at.epoch
        state.final = dict(checkpoint.get("record") or {})  # carried on by the checkpoints this run writes

    def before_stage(self, state) -> None:
        if state.resume is not None and state.stage_index == state.at.stage:
            for name, optimizer in state.optimizers.items():
                optimizer.load_state_dict(state.resume["optimizers"][name])
                state.schedules[name].load_state_dict(state.resume["schedulers"][name])

    def after_epoch(self, state) -> None:
        if state.record is not None:
            state.save_checkpoint()
