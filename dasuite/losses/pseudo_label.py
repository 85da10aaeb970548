"""Confidence-thresholded pseudo-labels (self-training: Lee, "Pseudo-Label", ICML 2013 workshop;
the thresholded form of Sohn et al., FixMatch, NeurIPS 2020).

For target logits z with p = softmax(z) (no gradient through p):

    L_PL = 1/N Σ_i 1[max_k p_ik >= τ] · CE(z_i, argmax_k p_ik)

The mean runs over the whole batch, so the term grows as more predictions pass the threshold τ.

:func:`shot_pseudo_labels` gives SHOT's centroid-based pseudo-labels of a whole set instead;
:func:`class_centroids` and :func:`nearest_centroid` a lighter variant of them (CDTrans' pairs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConfidentPseudoLabelLoss(nn.Module):
    """Cross-entropy towards the model's own confident predictions (those with max p >= ``threshold``)."""

    def __init__(self, threshold: float = 0.9):
        super().__init__()
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold={threshold} must lie in [0, 1].")
        self.threshold = threshold

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        confidence, pseudo_labels = F.softmax(logits.detach(), dim=1).max(1)
        mask = (confidence >= self.threshold).to(logits.dtype)
        return (F.cross_entropy(logits, pseudo_labels, reduction="none") * mask).mean()


def class_centroids(features: torch.Tensor, probabilities: torch.Tensor) -> torch.Tensor:
    """SHOT's self-supervised centroids (Liang et al., ICML 2020), on L2-normalised features f̂.

    A first pass weights every sample by its predicted probabilities, c_k⁰ = Σ_i p_ik f̂_i / Σ_i p_ik;
    samples are then labelled by the nearest centroid in cosine distance and the centroids recomputed
    from those hard labels, c_k¹ = mean of the f̂_i labelled k. Returns c¹, shape (C, d); a class that
    no sample is closest to keeps a zero centroid (never the nearest).
    """
    f = F.normalize(features.flatten(1), dim=1)
    soft = probabilities.T @ f / (probabilities.sum(0)[:, None] + 1e-8)
    hard = F.one_hot(nearest_centroid(f, soft), probabilities.shape[1]).to(f.dtype)
    return hard.T @ f / (hard.sum(0)[:, None] + 1e-8)


def nearest_centroid(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the centroid with the highest cosine similarity to each row of ``features``."""
    return (F.normalize(features.flatten(1), dim=1) @ F.normalize(centroids, dim=1).T).argmax(1)


def shot_pseudo_labels(features: torch.Tensor, probabilities: torch.Tensor, rounds: int = 2) -> torch.Tensor:
    """SHOT's pseudo-labels of a whole set: ``obtain_label`` of tim-learn/SHOT at f7d555a0, ``object/image_target.py``
    (distance ``cosine``, ``threshold`` 0; ``digit/uda_digit.py`` runs the same two rounds without dropping classes).

    The features get a constant 1 appended and are L2-normalised (f̂). Round 1 weights each sample by its
    predicted probabilities, c_k = Σ_i p_ik f̂_i / (Σ_i p_ik + 1e-8); each later round by its hard label of the
    round before. In each round only the classes that some sample is labelled with (round 1: the classifier's
    argmax) keep a centroid, and each sample takes the class of the nearest kept centroid in cosine distance
    (ties: the lowest class). Returns the labels of the last round, int64 of shape (N,).
    """
    f = features.flatten(1).float()
    f = F.normalize(torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype, device=f.device)], 1), dim=1)
    num_classes = probabilities.shape[1]
    weights, labels = probabilities.float(), probabilities.argmax(1)
    for _ in range(rounds):
        centroids = weights.T @ f / (weights.sum(0)[:, None] + 1e-8)
        kept = torch.bincount(labels, minlength=num_classes).nonzero().squeeze(1)
        labels = kept[nearest_centroid(f, centroids[kept])]
        weights = F.one_hot(labels, num_classes).to(f.dtype)
    return labels
