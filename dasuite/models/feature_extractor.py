"""What every image backbone shares: input adaptation, freezing, an optional bottleneck.

:class:`FeatureExtractor` wraps a network body that maps images to a feature vector and

* repeats a grayscale channel when the body wants RGB, and resizes inputs to ``resize`` pixels
  when set (e.g. 224 for ImageNet-pretrained weights on small images);
* with ``freeze=true`` keeps the body fixed (no gradients, BatchNorm statistics frozen): the
  feature-extraction transfer recipe;
* with ``bottleneck_dim`` adds Linear -> BatchNorm -> ReLU on top (256 is usual on Office-31),
  trained in every case; a method may give it another form (:mod:`dasuite.models.bottlenecks`).

It checks the pair's input shape once, with a forward pass, so a size the body cannot take fails
before training with the fix to apply.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.errors import ConfigError
from dasuite.models.bottlenecks import bottleneck_of_form


def bottleneck(in_features: int, dim: int | None) -> nn.Module | None:
    """Linear -> BatchNorm -> ReLU to ``dim`` features on top of a backbone (None when ``dim`` is None)."""
    if dim is None:
        return None
    if isinstance(dim, bool) or not (isinstance(dim, int) and dim >= 1):
        raise ConfigError(f"backbone.bottleneck_dim={dim!r} must be null or an integer >= 1.")
    return bottleneck_of_form("bn", in_features, dim)


class FeatureExtractor(nn.Module):
    """``body`` (images -> features) with input adaptation, freezing and an optional bottleneck."""

    def __init__(self, name: str, body: nn.Module, input_shape: Sequence[int], body_channels: int | None = None,
                 resize: int | None = None, freeze: bool = False, bottleneck_dim: int | None = None):
        super().__init__()
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ConfigError(f"backbone {name} takes images (channels, height, width), but this dataset pair "
                              f"gives inputs of shape {input_shape}; use backbone=mlp for vectors.")
        if resize is not None and not (isinstance(resize, int) and resize >= 8):
            raise ConfigError(f"backbone.resize={resize!r} must be null or an image size >= 8.")
        channels = input_shape[0]
        if body_channels is not None and channels not in (1, body_channels):
            raise ConfigError(f"backbone {name} takes {body_channels}-channel images, the pair gives {channels}; "
                              f"set dataset.channels={body_channels}.")
        self.name, self.body, self.resize, self.freeze = name, body, resize, freeze
        self.repeat = body_channels if body_channels is not None and channels != body_channels else None
        if freeze:
            self.body.requires_grad_(False)
        width = self._probe(input_shape)
        self.bottleneck = bottleneck(width, bottleneck_dim)
        self.out_features = width if bottleneck_dim is None else bottleneck_dim

    def body_parameters(self):
        """The network body's parameters, not those of the bottleneck added on top (``trainer.backbone_lr_mult``
        scales the body's learning rate)."""
        return self.body.parameters()

    def _probe(self, input_shape: tuple[int, ...]) -> int:
        was_training = self.body.training
        self.body.eval()
        try:
            with torch.no_grad():
                out = self._body_forward(torch.zeros(1, *input_shape))
        except (RuntimeError, AssertionError, ValueError) as error:  # torchvision's ViT asserts its size
            raise ConfigError(
                f"backbone {self.name} cannot take {'×'.join(map(str, input_shape))} images "
                f"({(str(error) or type(error).__name__).splitlines()[0]}). Use larger images (dataset.image_size=32 or more) or let the "
                "backbone resize them (backbone.resize=224).") from error
        finally:
            self.body.train(was_training)
        if out.ndim != 2:
            raise ConfigError(f"backbone {self.name} returned features of shape {tuple(out.shape)}, not (N, D).")
        return out.shape[1]

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs as the body takes them: a grayscale channel repeated, resized to ``resize`` when set."""
        if self.repeat is not None:
            x = x.expand(-1, self.repeat, -1, -1)
        if self.resize is not None and x.shape[-2:] != (self.resize, self.resize):
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        return x

    def _body_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.adapt(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self._body_forward(x)
        return features if self.bottleneck is None else self.bottleneck(features)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.body.eval()  # frozen features: BatchNorm statistics and dropout stay fixed
        return self
