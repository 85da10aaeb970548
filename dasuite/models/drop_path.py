"""Stochastic depth ("drop path") for torchvision's VisionTransformer: ``backbone.drop_path``.

Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016, as timm's ``DropPath`` applies it to
transformers: in training, each sample's residual branch (a block's attention, or its MLP) is dropped
with probability p and otherwise scaled by 1 / (1 − p); in evaluation it is the identity. Block i of n
gets p_i = rate · i / (n − 1), from 0 at the first block to ``rate`` at the last (timm's and CDTrans'
``dpr = torch.linspace(0, drop_path_rate, depth)``). timm models take the rate themselves
(``drop_path_rate``).
"""

from __future__ import annotations

import torch
from torch import nn

from dasuite.errors import ConfigError, check_number


class DropPath(nn.Module):
    """Per sample: zero the input with probability ``p``, else scale it by 1 / (1 − p) (training only)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def check_drop_path(rate) -> float:
    """``backbone.drop_path``: a number in [0, 1)."""
    check_number("backbone.drop_path", rate, minimum=0)
    if not rate < 1:
        raise ConfigError(f"backbone.drop_path={rate} must lie in [0, 1) (the last block's drop probability).")
    return float(rate)


def add_drop_path(vit: nn.Module, rate: float, backbone: str) -> None:
    """Give each ``EncoderBlock`` of a torchvision ``VisionTransformer`` drop path on both residual branches, at
    the linearly growing rates of the module docstring. The block's own forward and the token hook
    (:mod:`dasuite.models.tokens`) both apply it: it follows the attention's ``dropout`` and ends the ``mlp``.
    No parameter is added, so state dicts (and pretrained weights) are unchanged. ``rate`` 0: nothing; another
    network (``backbone``, for the message): a :class:`ConfigError`."""
    from torchvision.models import VisionTransformer

    if check_drop_path(rate) == 0:
        return
    if not isinstance(vit, VisionTransformer):
        raise ConfigError(f"backbone.drop_path={rate} is stochastic depth for vision transformers (backbone="
                          "vit_tiny, vit_b_16, or backbone=timm, which passes it to timm as drop_path_rate); backbone "
                          f"{backbone} has no transformer blocks: leave backbone.drop_path=0.")
    blocks = list(vit.encoder.layers)
    for i, block in enumerate(blocks):
        p = rate * i / (len(blocks) - 1) if len(blocks) > 1 else 0.0  # linspace(0, rate, 1) = [0]
        if p > 0:
            block.dropout = nn.Sequential(block.dropout, DropPath(p))
            block.mlp.append(DropPath(p))
