"""The collapse guard: does a model spread its target predictions over the classes?

Validators such as SND, entropy and DEV can score a collapsed model (one or two classes predicted
for every target sample) above a good one (Musgrave et al. 2022; Saito et al. 2021). An epoch is
flagged when its predictions on the target samples cover fewer than ``min_classes`` of the classes,
or when the histogram of predicted classes has a normalised entropy (entropy / log C, 1 = uniform)
below ``min_entropy``. Selection never prefers a flagged epoch over an unflagged one.
"""

from __future__ import annotations

import math

import torch


def collapse_guard(target_logits: torch.Tensor, min_classes: float, min_entropy: float) -> dict:
    """``guard/class_fraction``, ``guard/histogram_entropy`` and ``guard/collapsed`` of target logits."""
    num_classes = target_logits.shape[1]
    counts = torch.bincount(target_logits.argmax(1), minlength=num_classes).double()
    histogram = counts / counts.sum().clamp_min(1)
    fraction = (counts > 0).double().mean().item()
    entropy = -(histogram * histogram.clamp_min(1e-12).log()).sum().item() / math.log(num_classes)
    return {"guard/class_fraction": fraction, "guard/histogram_entropy": entropy,
            "guard/collapsed": fraction < min_classes or entropy < min_entropy}
