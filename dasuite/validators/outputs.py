"""What validators see: a model's outputs on source validation and on unlabeled target samples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F


@dataclass
class Outputs:
    """Logits and features (float64, on the CPU) of the labeled source validation set and of a
    fixed subsample of the unlabeled target train set, and the model itself on mixtures of those
    target inputs (``probe``, for MixVal). There is no field for target labels."""

    source_features: torch.Tensor  # (Ns, D)
    source_logits: torch.Tensor  # (Ns, C)
    source_labels: torch.Tensor  # (Ns,)
    target_features: torch.Tensor  # (Nt, D)
    target_logits: torch.Tensor  # (Nt, C)
    seed: int = 0  # for the validators that cluster, fit or draw (k-means, the domain classifier, MixVal's pairs)
    #: probe(i, j, λ): the model's logits (float64, CPU) on λ·x_i + (1 − λ)·x_j for index tensors i, j
    #: into the target samples; None when no model is at hand
    probe: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] | None = None

    @property
    def num_classes(self) -> int:
        return self.target_logits.shape[1]

    @property
    def usable(self) -> bool:
        """Both sets have at least two samples."""
        return len(self.source_labels) >= 2 and len(self.target_logits) >= 2

    @cached_property
    def target_probabilities(self) -> torch.Tensor:
        return self.target_logits.softmax(1)

    @cached_property
    def source_losses(self) -> torch.Tensor:
        """Per-sample cross-entropy on source validation."""
        return F.cross_entropy(self.source_logits, self.source_labels, reduction="none")

    @cached_property
    def importance_weights(self) -> torch.Tensor:
        """Density ratios p_target(x) / p_source(x) of the source validation samples (shared by IWCV and DEV)."""
        from dasuite.validators.density_ratio import density_ratios

        return density_ratios(self.source_features, self.target_features, self.seed)


def prediction_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row of a probability matrix."""
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(-1)
