"""Images held as uint8 tensors, and the batched preprocessing that turns them into model inputs.

Small image datasets (digits, CIFAR) are decoded once into a uint8 tensor of shape (N, C, H, W).
Batches are cut from it by tensor indexing; :class:`Preprocess` then converts a whole batch at once
(float, normalisation, optional augmentation), on the training device. No per-image PIL calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError

AUGMENTATIONS = ("none", "crop", "crop_flip")


@dataclass
class RawImages:
    """One split of one image dataset as read from disk: uint8 (N, C, H, W) images, int64 labels."""

    x: torch.Tensor
    y: torch.Tensor
    class_names: list[str]


class Preprocess:
    """uint8 (N, C, H, W) batch -> normalised float batch, with optional training augmentation.

    ``augment``: ``none``; ``crop`` (pad by 1/8 of the size with edge values, then a random crop back
    to the original size); ``crop_flip`` (that plus random horizontal flips, for natural images).
    """

    def __init__(self, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,), augment: str = "none",
                 channels: int = 1):
        if augment not in AUGMENTATIONS:
            raise ConfigError(f"dataset.augment={augment!r} is not one of {', '.join(AUGMENTATIONS)}.")
        if len(mean) != len(std) or len(mean) not in (1, channels) or min(std) <= 0:
            raise ConfigError(f"dataset.mean={list(mean)} and dataset.std={list(std)} must both have 1 or "
                              f"dataset.channels={channels} values, and std must be positive.")
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        self.augment, self.channels = augment, channels

    def __call__(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        if train and self.augment != "none":
            x = random_crop(x, flip=self.augment == "crop_flip")
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return (x.to(torch.float32) / 255.0 - mean) / std

    def config(self) -> dict:
        """Enough to rebuild it with ``hydra.utils.instantiate`` (stored in checkpoints)."""
        return {"_target_": f"{__name__}.Preprocess", "mean": self.mean.flatten().tolist(),
                "std": self.std.flatten().tolist(), "augment": self.augment, "channels": self.channels}

    def describe(self) -> str:
        return "pixels x in 0..255, (N, C, H, W) -> (x / 255 - mean) / std per channel"


def random_crop(x: torch.Tensor, flip: bool) -> torch.Tensor:
    """Pad each side by size/8 (edge replication) and cut a random crop of the original size."""
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x.float(), (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (n, h)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (n, w)
    if flip:
        flipped = torch.rand(n, device=x.device) < 0.5
        cols = torch.where(flipped[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).to(x.dtype)


def fit_images(x: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Resize a uint8 (N, C, H, W) tensor to ``size``×``size`` and convert to ``channels`` (1 or 3)."""
    if x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif channels == 1 and x.shape[1] == 3:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
        else:
            raise ConfigError(f"dataset.channels={channels}: cannot convert {x.shape[1]}-channel images "
                              "(use 1 or 3).")
    if x.shape[-2:] != (size, size):
        chunks = [F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True,
                                align_corners=False) for part in x.split(4096)]
        x = torch.cat(chunks).round().clamp_(0, 255).to(torch.uint8)
    return x.contiguous()


def check_image_settings(image_size: int, channels: int) -> None:
    """Validate the ``dataset.image_size`` and ``dataset.channels`` keys every image pair has."""
    if not (isinstance(image_size, int) and image_size >= 8):
        raise ConfigError(f"dataset.image_size={image_size!r} must be an integer >= 8 (pixels per side).")
    if channels not in (1, 3):
        raise ConfigError(f"dataset.channels={channels!r} must be 1 (grayscale) or 3 (RGB).")
