"""A vision transformer as parts: the hook for methods that run transformer blocks themselves.

:func:`transformer_parts` gives, for a ViT backbone (``vit_tiny``, ``vit_b_16``, or a timm
``VisionTransformer`` through ``backbone=timm``), a :class:`TransformerParts`:

* ``tokens(x)``: images -> the token sequence the first block takes, (N, L, D): the backbone's input
  adaptation, patch embedding, class token and position embedding (with its dropout);
* ``blocks``: the transformer blocks, in order;
* ``run(block, x, context, residual)``: one pre-norm block, h = r + A(x, c), out = h + MLP(h), whose
  attention A takes its queries from ``x`` and its keys and values from ``context`` (default ``x``: the
  block's own forward) and whose residual stream r is ``residual`` (default ``x``);
* ``features(tokens)``: the final norm, the feature token (the class token; a timm model's own pooling)
  and the backbone's bottleneck: what ``backbone(x)`` returns, so what the classifier head sees.

Running every block on ``tokens(x)`` and taking ``features`` reproduces ``backbone(x)``. Cross-attention
between two token sequences needs them of the same length (images of the same size). A backbone that is
no ViT raises :class:`~dasuite.errors.ConfigError` naming the ones that are.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.errors import ConfigError
from dasuite.models.feature_extractor import FeatureExtractor

#: What :func:`transformer_parts` accepts, for error messages.
VIT_BACKBONES = ("backbone=vit_tiny", "backbone=vit_b_16",
                 "backbone=timm with a timm VisionTransformer (e.g. backbone.name=deit_base_patch16_224)")


class TransformerParts:
    """The token-level view of one ViT backbone; subclasses know one implementation's modules."""

    blocks: Sequence[nn.Module]

    def __init__(self, backbone: FeatureExtractor):
        self.backbone = backbone
        self.body = backbone.body

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> (N, L, D) tokens entering the first block."""
        return self.embed(self.backbone.adapt(x))

    def run(self, block: nn.Module, x: torch.Tensor, context: torch.Tensor | None = None,
            residual: torch.Tensor | None = None) -> torch.Tensor:
        """One block: queries from ``x``, keys/values from ``context``, added to ``residual``."""
        h = (x if residual is None else residual) + self.attention(block, x, x if context is None else context)
        return h + self.feed_forward(block, h)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The last block's tokens -> the backbone's output features."""
        features = self.pool(tokens)
        return features if self.backbone.bottleneck is None else self.backbone.bottleneck(features)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def attention(self, block: nn.Module, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The block's attention branch (norm, attention, dropout): what it adds to the residual stream."""
        raise NotImplementedError

    def feed_forward(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The block's MLP branch (norm, MLP): what it adds to the residual stream."""
        raise NotImplementedError

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final norm and the feature token, before any bottleneck."""
        raise NotImplementedError


class TorchvisionViT(TransformerParts):
    """torchvision's ``VisionTransformer`` (``vit_tiny``, ``vit_b_16``): ``EncoderBlock`` with
    ``ln_1``/``self_attention`` (nn.MultiheadAttention)/``dropout`` and ``ln_2``/``mlp``; feature: class token."""

    def __init__(self, backbone: FeatureExtractor):
        super().__init__(backbone)
        self.blocks = list(self.body.encoder.layers)

    def embed(self, x):
        patches = self.body._process_input(x)
        tokens = torch.cat([self.body.class_token.expand(len(x), -1, -1), patches], dim=1)
        return self.body.encoder.dropout(tokens + self.body.encoder.pos_embedding)

    def attention(self, block, x, context):
        queries, keys = block.ln_1(x), block.ln_1(context)
        out, _ = block.self_attention(queries, keys, keys, need_weights=False)
        return block.dropout(out)

    def feed_forward(self, block, x):
        return block.mlp(block.ln_2(x))

    def pool(self, tokens):
        return self.body.encoder.ln(tokens)[:, 0]


class TimmViT(TransformerParts):
    """timm's ``VisionTransformer`` with its standard ``Block`` (norm1/attn/ls1/drop_path1, norm2/mlp/ls2/
    drop_path2); the feature is the model's own ``forward_head(pre_logits=True)`` (class token or pooling)."""

    def __init__(self, backbone: FeatureExtractor, vision_transformer):
        super().__init__(backbone)
        self.blocks = list(self.body.blocks)
        odd = [type(b).__name__ for b in self.blocks if not isinstance(b, vision_transformer.Block)
               or not isinstance(getattr(b.attn, "qkv", None), nn.Linear)]
        if odd:
            raise ConfigError(f"backbone {backbone.name} has transformer blocks of type {odd[0]}; the token hook "
                              "runs timm's standard Block with a fused qkv projection (ViT, DeiT, ...).")

    def embed(self, x):
        body = self.body
        return body.norm_pre(body.patch_drop(body._pos_embed(body.patch_embed(x))))

    def attention(self, block, x, context):
        queries = block.norm1(x)
        if context is x:
            return block.drop_path1(block.ls1(block.attn(queries)))
        handle = block.attn.qkv.register_forward_hook(_keys_values_from(block.norm1(context)))
        try:
            out = block.attn(queries)
        finally:
            handle.remove()
        return block.drop_path1(block.ls1(out))

    def feed_forward(self, block, x):
        return block.drop_path2(block.ls2(block.mlp(block.norm2(x))))

    def pool(self, tokens):
        return self.body.forward_head(self.body.norm(tokens), pre_logits=True)


def _keys_values_from(context: torch.Tensor):
    """A forward hook for a fused qkv projection: keep the queries of its input, take keys and values from
    ``context`` (the output is laid out [q | k | v] along the last axis, as timm's Attention splits it)."""

    def hook(module: nn.Linear, inputs, output: torch.Tensor) -> torch.Tensor:
        width = output.shape[-1] // 3
        keys_values = F.linear(context, module.weight, module.bias)
        return torch.cat([output[..., :width], keys_values[..., width:]], dim=-1)

    return hook


def transformer_parts(backbone: nn.Module, user: str = "this method") -> TransformerParts:
    """The token view of ``backbone``; ``user`` names who asks, in the error for a backbone that is no ViT."""
    body = getattr(backbone, "body", None)
    torchvision_vit = sys.modules.get("torchvision.models.vision_transformer")
    timm_vit = sys.modules.get("timm.models.vision_transformer")
    if isinstance(backbone, FeatureExtractor):
        if torchvision_vit is not None and isinstance(body, torchvision_vit.VisionTransformer):
            return TorchvisionViT(backbone)
        if timm_vit is not None and isinstance(body, timm_vit.VisionTransformer):
            return TimmViT(backbone, timm_vit)
    name = getattr(backbone, "name", type(backbone).__name__)
    raise ConfigError(f"{user} runs the blocks of a vision transformer, but the backbone is {name}. Use one of: "
                      f"{'; '.join(VIT_BACKBONES)}.")
