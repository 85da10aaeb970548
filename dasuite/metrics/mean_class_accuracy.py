"""Mean per-class accuracy: each class's accuracy (recall), averaged over the classes present in the labels.
VisDA-2017's metric (Peng et al., 2017), which Transfer-Learning-Library reports with ``--per-class-eval``.

    acc_c = |{i : y_i = c, ŷ_i = c}| / |{i : y_i = c}|,    mean_class_accuracy = (1 / |C|) · Σ_{c ∈ C} acc_c

with C the classes present in the labels y. A class absent from the labels has no accuracy and no term
in the mean; predicting it is an error of the sample's own class. (TLL's ``ConfusionMatrix.compute``,
tllib/utils/metric/__init__.py at c63c28fc, counts an absent class as 0 and averages over all classes;
VisDA-2017's validation set holds every class, where the two agree.)
"""

from __future__ import annotations

import math


def per_class_accuracy(predicted, labels, num_classes: int = 0) -> list[float | None]:
    """``acc_c`` for c = 0, 1, ... (at least ``num_classes`` entries); None for a class absent from ``labels``."""
    size = max(num_classes, int(labels.max()) + 1 if len(labels) else 0)
    totals = labels.bincount(minlength=size).tolist()
    hits = labels[predicted == labels].bincount(minlength=size).tolist()
    return [h / n if n else None for h, n in zip(hits, totals)]


def mean_class_accuracy(predicted, labels) -> float:
    """The mean of :func:`per_class_accuracy` over the classes present in ``labels``; NaN when there are none."""
    present = [a for a in per_class_accuracy(predicted, labels) if a is not None]
    return math.fsum(present) / len(present) if present else math.nan
