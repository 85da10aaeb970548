"""Early stopping on a label-free validator: end training when ``val/<validator>`` has not improved
by more than ``min_delta`` for ``patience`` evaluations in a row (Prechelt, "Early stopping - but
when?", 1998; Lightning's ``EarlyStopping``). Every dasuite validator is higher-is-better, so the
mode is max. Only the method's last stage counts (its first stages, e.g. ADDA's source pretraining,
always run), as for ``trainer.select``; the run ends "completed" at the stopping epoch, its
checkpoint and best.pt written, and summary.json says why (``stopped_early``). Switch it on in
``trainer.callbacks`` (docs/api.md) with ``{_target_: dasuite.engine.callbacks.early_stopping.EarlyStopping,
validator: im, patience: 5}``.

Its state rides in the checkpoint under ``early_stopping/<val key>`` (two instances watching two
validators keep their own), so a resumed run counts on where it stopped. An evaluation record without
the monitored key is a ConfigError (a validator the run does not compute), never a silent "no
improvement".
"""

from __future__ import annotations

import math

from dasuite.engine.callbacks.base import Callback
from dasuite.errors import ConfigError, check_number
from dasuite.validators import VALIDATORS


class EarlyStopping(Callback):
    def __init__(self, validator: str, patience: int = 5, min_delta: float = 0.0):
        if validator not in VALIDATORS:
            raise ConfigError(f"EarlyStopping validator={validator!r} is not a validator; valid choices: "
                              f"{', '.join(VALIDATORS)}.")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"EarlyStopping patience={patience!r} must be an integer >= 1 (evaluations).")
        self.key, self.patience = f"val/{validator}", patience
        self.name = f"early_stopping/{self.key}"  # its entry in the checkpoint's callbacks
        self.min_delta = check_number("EarlyStopping min_delta", min_delta, minimum=0)
        self.best, self.best_epoch, self.wait = -math.inf, None, 0
        self.stopped = None

    def after_evaluation(self, state, record: dict) -> None:
        if not state.last_stage:
            return
        if self.key not in record:
            present = sorted(k.removeprefix("val/") for k in record if k.startswith("val/"))
            raise ConfigError(f"EarlyStopping validator={self.key.removeprefix('val/')!r}: this run's evaluations "
                              f"record no {self.key}; the validators they record: {', '.join(present) or 'none'}. "
                              "Monitor one of those.")
        value = record[self.key]
        if math.isfinite(value) and value > self.best + self.min_delta:
            self.best, self.best_epoch, self.wait = value, record["epoch"], 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped = (f"{self.key} did not improve by more than {self.min_delta:g} for {self.patience} "
                            f"evaluation(s) after epoch {self.best_epoch}")
            state.request_stop(self.stopped)

    def after_fit(self, state) -> None:
        if self.stopped is not None:
            state.summary["stopped_early"] = self.stopped

    def on_save_checkpoint(self, state, checkpoint: dict) -> None:
        checkpoint.setdefault("callbacks", {})[self.name] = {
            "key": self.key, "best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def on_load_checkpoint(self, state, checkpoint: dict) -> None:
        saved = checkpoint.get("callbacks") or {}
        saved = saved.get(self.name) or saved.get("early_stopping")  # the latter: older checkpoints
        if saved and saved.get("key") == self.key:
            self.best, self.best_epoch, self.wait = saved["best"], saved["best_epoch"], saved["wait"]
