"""Accuracy: the fraction of samples whose predicted class is their label.

    accuracy = (1 / N) · Σ_i [ŷ_i = y_i]
"""

from __future__ import annotations

import math


def accuracy(predicted, labels) -> float:
    """Accuracy of the predicted classes ``predicted`` (N,) against ``labels`` (N,); NaN for N = 0."""
    if len(labels) == 0:
        return math.nan
    return int((predicted == labels).sum()) / len(labels)
