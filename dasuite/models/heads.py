"""Heads that sit on backbone features."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp_head(in_features: int, hidden: Sequence[int], out_features: int, batch_norm: bool = False) -> nn.Sequential:
    """ReLU MLP (Linear-BatchNorm-ReLU layers with ``batch_norm``) ending in a linear layer with
    ``out_features`` outputs (no final activation)."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), *([nn.BatchNorm1d(size)] if batch_norm else []), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def domain_discriminator(in_features: int, hidden: Sequence[int] = (256, 256),
                         batch_norm: bool = False) -> nn.Sequential:
    """Outputs one logit per sample: > 0 means 'source'. ``batch_norm``: BatchNorm after each hidden layer,
    as Transfer-Learning-Library's ``DomainDiscriminator``."""
    return mlp_head(in_features, hidden, 1, batch_norm)
