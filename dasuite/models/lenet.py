"""LeNet for digits (the benchmark protocol, docs/architecture.md): conv 20 5×5 - pool - conv 50 5×5 - pool - fc 500.

With ``out_features=500`` it is Transfer-Learning-Library's LeNet (``tllib/vision/models/digits.py``:
fc 500, ReLU, dropout 0.5 after the conv layers; its scripts' ``--no-pool`` only skips the pooling layer
that a flat feature vector does not need). ``out_features=null`` drops the fc layer: the flattened conv
features (800 at 28×28) feed the bottleneck or the head directly, SHOT's ``LeNetBase`` (``digit/network.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from dasuite.errors import ConfigError, check_number
from dasuite.models.feature_extractor import FeatureExtractor


class LeNetBody(nn.Module):
    """The convolutional part; the 500-unit layer is sized from the input. ``batch_norm``: a BatchNorm2d after each
    convolution (``backbone=lenet_bn``: the normalisation layers test-time adaptation adapts)."""

    def __init__(self, channels: int, dropout: float, batch_norm: bool = False):
        super().__init__()
        norm = (lambda width: [nn.BatchNorm2d(width)]) if batch_norm else (lambda width: [])
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 20, 5), *norm(20), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(20, 50, 5), *norm(50), nn.Dropout2d(dropout), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten())

    def forward(self, x):
        return self.conv(x)


#: The largest image side LeNet takes: twice the 32 px of the digit pairs it was made for.
MAX_SIDE = 64


def _check_size(input_shape: Sequence[int]) -> None:
    """LeNet demands digit-sized images: its first fully connected layer grows with the image's area."""
    height, width = input_shape[1:]
    if max(height, width) <= MAX_SIDE:
        return
    features = 50 * (((height - 4) // 2 - 4) // 2) * (((width - 4) // 2 - 4) // 2)
    raise ConfigError(f"backbone lenet is made for digit-sized images (28 or 32 px, at most {MAX_SIDE}); this pair "
                      f"gives {height}×{width} images, on which its fully connected layer would take {features:,} "
                      f"inputs (~{features * 500 / 1e6:.0f}M parameters, against 800 inputs at 28 px) and train "
                      "orders of magnitude slower. Set dataset.image_size=28 (dataset=folder: dataset.image_size=auto "
                      "keeps the images' own size), or choose a backbone for large images (backbone=resnet18).")


def lenet(input_shape: Sequence[int], out_features: int | None = 500, dropout: float = 0.5, freeze: bool = False,
          bottleneck_dim: int | None = None, batch_norm: bool = False) -> FeatureExtractor:
    """LeNet feature extractor: conv layers (``batch_norm``: each followed by BatchNorm), then ``out_features`` ReLU
    units with dropout (none if null)."""
    check_number("backbone.dropout", dropout, minimum=0)
    if not dropout < 1:
        raise ConfigError(f"backbone.dropout={dropout} must lie in [0, 1).")
    if out_features is not None and (isinstance(out_features, bool) or not isinstance(out_features, int)
                                     or out_features < 1):
        raise ConfigError(f"backbone.out_features={out_features!r} must be null (the conv features) or an integer "
                          ">= 1.")
    if len(input_shape) != 3:
        raise ConfigError(f"backbone lenet takes images (channels, height, width), but this dataset pair gives "
                          f"inputs of shape {tuple(input_shape)}; use backbone=mlp for vectors.")
    _check_size(input_shape)
    if not isinstance(batch_norm, bool):
        raise ConfigError(f"backbone.batch_norm={batch_norm!r} must be true or false.")
    conv = LeNetBody(input_shape[0], dropout, batch_norm)
    body = conv
    if out_features is not None:
        probe = FeatureExtractor("lenet", conv, input_shape)
        body = nn.Sequential(conv, nn.Linear(probe.out_features, out_features), nn.ReLU(), nn.Dropout(dropout))
    return FeatureExtractor("lenet", body, input_shape, freeze=freeze, bottleneck_dim=bottleneck_dim)
