"""``trainer.channels_last``: the memory layout of convolutional models and their image batches.

``auto`` (the default) stores the weights of a model with 2-D convolutions, and each training
batch of images, channels-last (NHWC), on CUDA (cuDNN's convolutions, and tensor cores under
bf16/16-mixed, are fastest in it) and on the CPU (oneDNN's are: LeNet DANN steps ran 1.51× faster
than NCHW on the 2-core AMD EPYC development machine; BENCHMARKS.md, "Training speed").
Models without convolutions stay as they are. ``true`` asks for it (a model without convolutions
then stays as it is, with one warning); ``false`` never. The layout changes no result beyond
floating-point rounding, and no ``state_dict``.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

#: ``trainer.channels_last`` values.
CHOICES = ("auto", True, False)


def check_channels_last(value) -> str | bool:
    if value not in CHOICES or not isinstance(value, (str, bool)):
        raise ConfigError(f"trainer.channels_last={value!r} is not one of auto, true, false (auto: on for "
                          "convolutional models).")
    return value


def use_channels_last(setting: str | bool, method: nn.Module) -> bool:
    """Whether ``method`` trains channels-last under ``setting``."""
    convolutional = any(isinstance(m, nn.Conv2d) for m in method.modules())
    if setting == "auto":
        return convolutional
    if setting and not convolutional:
        log.warning("trainer.channels_last=true but the model has no 2-D convolution; its layout stays as it is.")
        return False
    return bool(setting)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """An image batch (N, C, H, W) in channels-last layout; other tensors as they are."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
