"""torchvision networks as feature extractors: ResNet-18/50, VGG-16, ViT-B/16 and a small ViT.

``pretrained=true`` loads torchvision's ImageNet weights (``backbone.weights``: ``DEFAULT``, the best
torchvision has, or a named set such as ``IMAGENET1K_V1``, the one Transfer-Learning-Library used) from
``backbone.weights_path`` or from the torch hub cache (``$TORCH_HOME/hub/checkpoints``). They are
downloaded only with ``download=true``, by torchvision, with a network timeout; offline and without
the file, the error names the file to provide, before the network is even built. Never a silent
download, never a hang.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from dasuite.errors import ConfigError
from dasuite.models.drop_path import add_drop_path
from dasuite.models.feature_extractor import FeatureExtractor

#: backbone name -> the attribute holding its final classification layer.
_CLASSIFIER = {"resnet18": "fc", "resnet50": "fc", "vgg16": "classifier.6", "vit_b_16": "heads"}
DOWNLOAD_TIMEOUT_S = 60  # per network read while downloading weights


def _strip(model: nn.Module, attribute: str) -> nn.Module:
    """Replace the final classification layer by the identity, so the model returns features."""
    parent_name, _, child = attribute.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Identity())
    return model


def _weights_state(name: str, weights_path, download: bool, version: str = "DEFAULT") -> dict:
    from torchvision.models import get_model_weights

    available = get_model_weights(name)
    if version not in available.__members__:
        raise ConfigError(f"backbone.weights={version!r} is not one of torchvision's {name} weights: "
                          f"{', '.join(available.__members__)}.")
    weights = available[version]
    if weights_path is not None:
        path = Path(str(weights_path)).expanduser()
        if not path.is_file():
            raise ConfigError(f"backbone.weights_path={weights_path} does not exist.")
    else:
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not path.is_file():
            if not download:
                raise ConfigError(
                    f"backbone {name} with pretrained=true needs torchvision's ImageNet weights, expected at {path} "
                    f"(from {weights.url}). Set download=true to fetch them, or give the file with "
                    "backbone.weights_path=..., or use backbone.pretrained=false.")
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # torch.hub opens the URL without a timeout
            try:
                return weights.get_state_dict(progress=False)
            except (OSError, RuntimeError) as error:  # URLError, timeouts; a hash mismatch is a RuntimeError
                raise ConfigError(f"downloading the {name} weights from {weights.url} failed ({error}); "
                                  f"place the file at {path} or pass backbone.weights_path.") from error
            finally:
                socket.setdefaulttimeout(previous)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same message
        raise ConfigError(f"cannot load the {name} weights file {path}: {error}") from error


def _load_body(body: nn.Module, name: str, state: dict) -> None:
    """Load ``state`` into the classifier-less ``body``; the classifier's own weights are ignored."""
    classifier = _CLASSIFIER[name] + "."
    state = {k: v for k, v in state.items() if not k.startswith(classifier)}
    try:
        result = body.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        detail = " ".join(str(error).split())
        raise ConfigError(f"the weights for backbone {name} do not fit the network: {detail[:500]}") from error
    if result.missing_keys or result.unexpected_keys:
        raise ConfigError(f"the weights for backbone {name} do not fit the network: missing "
                          f"{result.missing_keys[:5] or 'none'}, unexpected {result.unexpected_keys[:5] or 'none'}.")


def torchvision_backbone(input_shape: Sequence[int], name: str, pretrained: bool = False, weights: str = "DEFAULT",
                         weights_path=None, download: bool = False, resize: int | None = None, freeze: bool = False,
                         bottleneck_dim: int | None = None, drop_path: float = 0.0) -> FeatureExtractor:
    """A torchvision classification network without its last layer (see the module docstring); ``drop_path``:
    stochastic depth, ViT-B/16 only (:mod:`dasuite.models.drop_path`)."""
    from torchvision.models import get_model

    if name not in _CLASSIFIER:
        raise ConfigError(f"backbone.name={name!r} is not one of {', '.join(_CLASSIFIER)} "
                          "(backbone=timm takes any timm model).")
    if weights_path is not None and not pretrained:
        raise ConfigError(f"backbone.weights_path={weights_path} is only read with backbone.pretrained=true.")
    state = _weights_state(name, weights_path, download, weights) if pretrained else None  # missing: fail fast
    body = _strip(get_model(name, weights=None), _CLASSIFIER[name])
    add_drop_path(body, drop_path, name)
    if state is not None:
        _load_body(body, name, state)
    return FeatureExtractor(name, body, input_shape, body_channels=3, resize=resize, freeze=freeze,
                            bottleneck_dim=bottleneck_dim)


def vit_tiny(input_shape: Sequence[int], patch_size: int = 7, num_layers: int = 4, num_heads: int = 4,
             hidden_dim: int = 128, mlp_dim: int = 256, dropout: float = 0.0, freeze: bool = False,
             bottleneck_dim: int | None = None, drop_path: float = 0.0) -> FeatureExtractor:
    """torchvision's VisionTransformer configured small, trained from scratch at the pair's image size;
    ``drop_path``: stochastic depth (:mod:`dasuite.models.drop_path`)."""
    from torchvision.models import VisionTransformer

    channels, height, width = tuple(input_shape) if len(input_shape) == 3 else (0, 0, 0)
    if height != width or height % patch_size:
        raise ConfigError(f"backbone vit_tiny needs square images whose side is a multiple of backbone.patch_size="
                          f"{patch_size}; the pair gives {tuple(input_shape)}. Change dataset.image_size or "
                          "backbone.patch_size.")
    if hidden_dim % num_heads:
        raise ConfigError(f"backbone.hidden_dim={hidden_dim} must be divisible by backbone.num_heads={num_heads}.")
    model = VisionTransformer(image_size=height, patch_size=patch_size, num_layers=num_layers, num_heads=num_heads,
                              hidden_dim=hidden_dim, mlp_dim=mlp_dim, dropout=dropout)
    if channels != 3:
        model.conv_proj = nn.Conv2d(channels, hidden_dim, kernel_size=patch_size, stride=patch_size)
    add_drop_path(model, drop_path, "vit_tiny")
    return FeatureExtractor("vit_tiny", _strip(model, "heads"), input_shape, freeze=freeze,
                            bottleneck_dim=bottleneck_dim)
