"""Feature extractors. Each takes the pair's ``input_shape`` and exposes ``out_features``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from dasuite.errors import ConfigError


class Linear(nn.Module):
    """One linear map of the flattened input: with a linear head the whole model stays linear."""

    def __init__(self, input_shape: Sequence[int], out_features: int = 16):
        super().__init__()
        if out_features < 1:
            raise ConfigError(f"backbone.out_features={out_features} must be >= 1.")
        self.out_features = out_features
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), out_features))

    def forward(self, x):
        return self.net(x)


class MLP(nn.Module):
    """Fully connected ReLU layers of sizes ``hidden`` on the flattened input."""

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (64, 64), dropout: float = 0.0):
        super().__init__()
        hidden = list(hidden)
        if not hidden or min(hidden) < 1:
            raise ConfigError(f"backbone.hidden={hidden} must be a non-empty list of positive sizes.")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"backbone.dropout={dropout} must lie in [0, 1).")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        self.out_features = width
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
