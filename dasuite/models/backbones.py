"""Feature extractors. Each takes the pair's ``input_shape`` and exposes ``out_features``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from dasuite.errors import ConfigError
from dasuite.models.feature_extractor import bottleneck

#: backbone.activation of the MLP's hidden layers
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}



class Linear(nn.Module):
    """One linear map of the flattened input: with a linear head (and no bottleneck) the whole model stays linear."""

    def __init__(self, input_shape: Sequence[int], out_features: int = 16, bottleneck_dim: int | None = None):
        super().__init__()
        if out_features < 1:
            raise ConfigError(f"backbone.out_features={out_features} must be >= 1.")
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), out_features))
        self.bottleneck = bottleneck(out_features, bottleneck_dim)
        self.out_features = bottleneck_dim or out_features

    def forward(self, x):
        x = self.net(x)
        return x if self.bottleneck is None else self.bottleneck(x)

    def body_parameters(self):
        """The layers' parameters, not those of the bottleneck on top (``trainer.backbone_lr_mult`` scales them)."""
        return self.net.parameters()


class MLP(nn.Module):
    """Fully connected layers of sizes ``hidden`` on the flattened input (ReLU, sigmoid or tanh units),
    optionally topped by the Linear-BN-ReLU bottleneck of the image backbones."""

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (64, 64), dropout: float = 0.0,
                 activation: str = "relu", bottleneck_dim: int | None = None):
        super().__init__()
        hidden = list(hidden)
        if not hidden or min(hidden) < 1:
            raise ConfigError(f"backbone.hidden={hidden} must be a non-empty list of positive sizes.")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"backbone.dropout={dropout} must lie in [0, 1).")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"backbone.activation={activation!r} is not one of {', '.join(ACTIVATIONS)}.")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        self.net = nn.Sequential(*layers)
        self.bottleneck = bottleneck(width, bottleneck_dim)
        self.out_features = bottleneck_dim or width

    def forward(self, x):
        x = self.net(x)
        return x if self.bottleneck is None else self.bottleneck(x)

    def body_parameters(self):
        """The layers' parameters, not those of the bottleneck on top (``trainer.backbone_lr_mult`` scales them)."""
        return self.net.parameters()
