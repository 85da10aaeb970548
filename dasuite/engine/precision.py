"""``trainer.precision``: the number format of the training steps' forward passes.

* ``32``: float32 everywhere (the default).
* ``bf16``: :func:`torch.autocast` to bfloat16 (CPU and CUDA); bfloat16 has float32's range, so no
  loss scaling is needed.
* ``16-mixed``: autocast to float16 on CUDA with a :class:`torch.amp.GradScaler`, whose state goes
  into the checkpoint so that a resumed run scales exactly as the uninterrupted one.

Where a format cannot run (float16 on the CPU, bfloat16 on a GPU without it) training falls back to
float32 with one warning. Weights, optimizer states and evaluation stay float32 in every case.
"""

from __future__ import annotations

import contextlib
import logging

import torch

from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

#: ``trainer.precision`` values -> the autocast dtype (None: float32, no autocast).
PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}


def check_precision(value) -> str:
    """The canonical name of a ``trainer.precision`` value (Hydra reads ``32`` as an integer)."""
    name = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if name not in PRECISIONS:
        raise ConfigError(f"trainer.precision={value!r} is not a supported precision; valid choices: "
                          f"{', '.join(PRECISIONS)} (32: float32; bf16: bfloat16 autocast; 16-mixed: float16 "
                          "autocast with loss scaling, CUDA only).")
    return name


class Precision:
    """Autocast and loss scaling for ``name`` on ``device``; :attr:`name` is what actually runs."""

    def __init__(self, name: str, device: torch.device):
        self.device = device
        self.name = self._supported(name, device)
        self.dtype = PRECISIONS[self.name]
        self.scaler = torch.amp.GradScaler(device.type) if self.name == "16-mixed" else None

    @staticmethod
    def _supported(name: str, device: torch.device) -> str:
        if name == "16-mixed" and device.type != "cuda":
            log.warning("trainer.precision=16-mixed needs a CUDA device (float16 with loss scaling); on %s "
                        "training runs in float32. Use trainer.precision=bf16 for reduced precision on a CPU.",
                        device.type)
            return "32"
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            log.warning("trainer.precision=bf16: this GPU has no bfloat16 support; training runs in float32 "
                        "(trainer.precision=16-mixed is the reduced precision it supports).")
            return "32"
        return name

    def autocast(self):
        """The context the forward pass and the losses run in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                          clip_norm: float | None = None) -> None:
        """Back-propagate ``loss`` and step ``optimizer`` (through the scaler with 16-mixed); ``clip_norm``: first
        rescale the gradients of the optimizer's parameters, unscaled, to a total 2-norm of at most this."""
        if self.scaler is None:
            loss.backward()
            _clip(optimizer, clip_norm)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if clip_norm is not None:
            self.scaler.unscale_(optimizer)
            _clip(optimizer, clip_norm)
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict | None:
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def _clip(optimizer: torch.optim.Optimizer, clip_norm: float | None) -> None:
    """``torch.nn.utils.clip_grad_norm_`` over every parameter ``optimizer`` steps (none: nothing)."""
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip_norm)
