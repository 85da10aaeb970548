"""Rotation prediction as self-supervised adaptation (Gidaris et al., ICLR 2018, as an auxiliary
task for domain adaptation in Sun et al., "Unsupervised Domain Adaptation through
Self-Supervision", 2019).

Besides the source classifier, an extra head on the shared features learns to predict which of
four rotations (0°, 90°, 180°, 270°) was applied to an input, on source *and* target batches;
features good at that task on both domains are pulled towards a common structure.

    L = CE(head(f(x_s)), y_s) + trade_off · CE(rot_head(f(rot_k(x))), k),  x ∈ source ∪ target,
    k ~ uniform{0, 1, 2, 3}, one draw per sample

How inputs are rotated: image batches (N, C, H, W) by ``torch.rot90`` over (H, W) (square images
only); vectors (N, D) by rotating their first two coordinates by k·90° about the origin (for the
2-D toy pairs: the points themselves, so the head must read the rotation off where the point
lies). Other shapes are rejected.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from dasuite.methods.base import Batch, Method, StepContext, check_sizes, check_trade_off
from dasuite.models.heads import mlp_head

#: cos and sin of k·90°, exactly.
_COS = (1.0, 0.0, -1.0, 0.0)
_SIN = (0.0, 1.0, 0.0, -1.0)


def rotate(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Each sample x[i] rotated by k[i]·90° counter-clockwise (k in 0..3); see the module docstring."""
    if x.ndim == 4:
        if x.shape[2] != x.shape[3]:
            raise ValueError(f"rotation SSL needs square images, got {x.shape[2]}×{x.shape[3]}.")
        out = x.clone()
        for turns in (1, 2, 3):
            chosen = k == turns
            if chosen.any():
                out[chosen] = torch.rot90(x[chosen], turns, dims=(2, 3))
        return out
    if x.ndim == 2 and x.shape[1] >= 2:
        cos = torch.tensor(_COS, dtype=x.dtype, device=x.device)[k]
        sin = torch.tensor(_SIN, dtype=x.dtype, device=x.device)[k]
        out = x.clone()
        out[:, 0] = cos * x[:, 0] - sin * x[:, 1]
        out[:, 1] = sin * x[:, 0] + cos * x[:, 1]
        return out
    raise ValueError(f"rotation SSL takes image batches (N, C, H, W) or vectors (N, D >= 2), got shape "
                     f"{tuple(x.shape)}.")


class RotationSSL(Method):
    """Source cross-entropy + trade_off · 4-way rotation prediction on both domains."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0,
                 rotation_head_hidden: Sequence[int] = (), label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.rotation_head = mlp_head(backbone.out_features, check_sizes("rotation_head_hidden", rotation_head_hidden), 4)

    def training_step(self, batch: Batch, ctx: StepContext):
        x = torch.cat([batch.xs, batch.xt])
        k = torch.randint(0, 4, (len(x),), device=x.device)
        features = self.backbone(torch.cat([batch.xs, rotate(x, k)]))
        f_s, f_rot = features[: len(batch.xs)], features[len(batch.xs):]
        return {"cls": self.classification_loss(self.head(f_s), batch.ys),
                "rotation": self.trade_off * F.cross_entropy(self.rotation_head(f_rot), k)}
