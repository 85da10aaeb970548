"""Images held as uint8 tensors, and the batched preprocessing that turns them into model inputs.

Small image datasets (digits, CIFAR) are decoded once into a uint8 tensor of shape (N, C, H, W).
Batches are cut from it by tensor indexing; :class:`Preprocess` then converts a whole batch at once
(float, normalisation, optional augmentation), on the training device. No per-image PIL calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError

@dataclass
class RawImages:
    """One split of one image dataset as read from disk: uint8 (N, C, H, W) images, int64 labels."""

    x: torch.Tensor
    y: torch.Tensor
    class_names: list[str]


class Preprocess:
    """uint8 (N, C, H, W) batch -> normalised float batch, with optional training augmentation.

    ``augment`` (training batches only; :data:`AUGMENTATIONS`): ``none``; ``crop`` (pad by 1/8 of the
    size with edge values, then a random crop back to the original size); ``crop_flip`` (that plus
    random horizontal flips, for natural images); ``resized_crop_flip`` (torchvision's
    RandomResizedCrop, area 8-100 %, aspect 3/4-4/3, plus flips: Transfer-Learning-Library's default
    training transform); ``center_crop_flip`` (the centre crop plus flips: its ``cen.crop``);
    ``window_crop_flip`` (a random crop-sized window of the stored image plus flips: its ``ran.crop``,
    and SHOT's and CDTrans's Resize(256) + RandomCrop(224) + flip); ``pad_crop_rotate`` (zero-pad 4 px,
    a random crop back to the size, a random rotation within ±10°: SHOT's USPS source transform).

    ``crop``: the model's input side when the stored images are larger (Transfer-Learning-Library
    stores 256 px and feeds 224 px): evaluation batches are centre-cropped to it, training batches
    cropped to it by ``resized_crop_flip`` and ``window_crop_flip`` (centre-cropped before the others).
    """

    def __init__(self, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,), augment: str = "none",
                 channels: int = 1, crop: int | None = None):
        if augment not in AUGMENTATIONS:
            raise ConfigError(f"dataset.augment={augment!r} is not one of {', '.join(AUGMENTATIONS)}.")
        if len(mean) != len(std) or len(mean) not in (1, channels) or min(std) <= 0:
            raise ConfigError(f"dataset.mean={list(mean)} and dataset.std={list(std)} must both have 1 or "
                              f"dataset.channels={channels} values, and std must be positive.")
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        self.augment, self.channels, self.crop = augment, channels, crop

    def __call__(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        x = AUGMENTATIONS[self.augment](x, self.crop) if train else center_crop(x, self.crop)
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return (x.to(torch.float32) / 255.0 - mean) / std

    def config(self) -> dict:
        """Enough to rebuild it with ``hydra.utils.instantiate`` (stored in checkpoints)."""
        return {"_target_": f"{__name__}.Preprocess", "mean": self.mean.flatten().tolist(),
                "std": self.std.flatten().tolist(), "augment": self.augment, "channels": self.channels,
                "crop": self.crop}

    def describe(self) -> str:
        crop = f"centre {self.crop}x{self.crop} crop, then " if self.crop else ""
        return f"pixels x in 0..255, (N, C, H, W) -> {crop}(x / 255 - mean) / std per channel"


def center_crop(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """The central ``size``×``size`` window (images no larger than ``size``, or ``size=None``: as they are)."""
    h, w = x.shape[-2:]
    if size is None or (h <= size and w <= size):
        return x
    top, left = int(round((h - size) / 2)), int(round((w - size) / 2))
    return x[..., top: top + size, left: left + size]


def random_resized_crop(x: torch.Tensor, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                        tries: int = 10) -> torch.Tensor:
    """torchvision's RandomResizedCrop + RandomHorizontalFlip for a whole batch, as float (N, C, size, size).

    Per image: up to ``tries`` (area share, log-uniform aspect) draws, the first that fits is cut at a
    random position (none fits: the whole image), resized bilinearly, and mirrored with probability 1/2.
    """
    n, _, h, w = x.shape
    device = x.device
    area = h * w * torch.empty(n, tries, device=device).uniform_(*scale)
    aspect = torch.empty(n, tries, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1])).exp()
    cw, ch = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()
    fits = (cw >= 1) & (ch >= 1) & (cw <= w) & (ch <= h)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # the first draw that fits
    found = fits.any(1)
    cw = torch.where(found, cw.gather(1, first).squeeze(1), torch.full_like(found, w, dtype=cw.dtype))
    ch = torch.where(found, ch.gather(1, first).squeeze(1), torch.full_like(found, h, dtype=ch.dtype))
    left = (torch.rand(n, device=device) * (w - cw + 1)).floor()
    top = (torch.rand(n, device=device) * (h - ch + 1)).floor()
    mirror = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)  # output [-1, 1] -> the crop box in normalised input coordinates
    theta[:, 0, 0], theta[:, 0, 2] = mirror * cw / w, (2 * left + cw) / w - 1
    theta[:, 1, 1], theta[:, 1, 2] = ch / h, (2 * top + ch) / h - 1
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_crop(x: torch.Tensor, flip: bool, pad: int | None = None, fill: str = "replicate") -> torch.Tensor:
    """Pad each side by ``pad`` (default size/8; ``fill``: ``replicate`` the edge, or ``zeros``) and cut a
    random crop of the original size, mirrored with probability 1/2 if ``flip``."""
    h, w = x.shape[-2:]
    pad = max(1, h // 8) if pad is None else pad
    padded = F.pad(x.float(), (pad, pad, pad, pad), mode="constant" if fill == "zeros" else "replicate")
    return random_window(padded, (h, w), flip).to(x.dtype)


def random_window(x: torch.Tensor, size: int | tuple[int, int], flip: bool = True) -> torch.Tensor:
    """A random ``size`` window of each image (torchvision's RandomCrop, no padding; an image no larger than
    ``size`` is kept whole), mirrored with probability 1/2 if ``flip``."""
    n, _, h, w = x.shape
    height, width = (size, size) if isinstance(size, int) else size
    height, width = min(height, h), min(width, w)
    top = torch.randint(0, h - height + 1, (n,), device=x.device)
    left = torch.randint(0, w - width + 1, (n,), device=x.device)
    rows = top[:, None] + torch.arange(height, device=x.device)[None, :]  # (n, height)
    cols = left[:, None] + torch.arange(width, device=x.device)[None, :]  # (n, width)
    if flip:
        cols = torch.where((torch.rand(n, device=x.device) < 0.5)[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flipped = (torch.rand(len(x), device=x.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(flipped, x.flip(-1), x)


def random_rotation(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Each image rotated about its centre by an angle drawn uniformly in ±``degrees`` (torchvision's
    RandomRotation: nearest pixel, zeros outside), as float."""
    angle = torch.empty(len(x), device=x.device).uniform_(-degrees, degrees) * math.pi / 180
    theta = torch.zeros(len(x), 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = angle.cos(), -angle.sin()
    theta[:, 1, 0], theta[:, 1, 1] = angle.sin(), angle.cos()
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)


#: ``dataset.augment`` -> the training transform of a stored batch, given the model's input side ``crop``
#: (None: the stored size).
AUGMENTATIONS = {
    "none": center_crop,
    "crop": lambda x, crop: random_crop(center_crop(x, crop), flip=False),
    "crop_flip": lambda x, crop: random_crop(center_crop(x, crop), flip=True),
    "resized_crop_flip": lambda x, crop: random_resized_crop(x, crop or x.shape[-1]),
    "center_crop_flip": lambda x, crop: random_flip(center_crop(x, crop)),
    "window_crop_flip": lambda x, crop: random_window(x, crop or tuple(x.shape[-2:])),
    "pad_crop_rotate": lambda x, crop: random_rotation(random_crop(center_crop(x, crop), False, 4, "zeros"), 10),
}


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
