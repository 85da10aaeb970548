"""EnsV: of several candidate models, pick the one that agrees most with their ensemble.

Hu, Luo, Liang & Foo, "Simplifying and Stabilizing Model Selection in Unsupervised Domain
Adaptation", NeurIPS 2023 Workshop on Distribution Shifts (as its code, github.com/LHXXHB/EnsV,
cites it). With p_k the softmax predictions of candidate k on the
N unlabeled target samples, the ensemble's pseudo-labels are ŷ_i = argmax_c Σ_k p_k,ic and

    EnsV_k = (1/N) Σ_i [argmax_c p_k,ic = ŷ_i]

(ties: the earlier candidate). As 0-1 errors obey err_k ≤ (1 − EnsV_k) + err_ens, the pick
maximises a lower bound on target accuracy, acc_k ≥ EnsV_k − err_ens, whose unknown term err_ens is
the same for every candidate: a candidate far from the consensus (collapsed, diverged, under-trained)
scores low. numpy only, for the trainer and the report alike.
"""

from __future__ import annotations

import numpy as np


def agreements(probabilities: list[np.ndarray]) -> list[float]:
    """EnsV_k of each candidate's (N × C) probabilities against the ensemble of all of them."""
    total = np.zeros(probabilities[0].shape, dtype=np.float64)
    for p in probabilities:
        total += p
    consensus = total.argmax(1)
    return [float((p.argmax(1) == consensus).mean()) for p in probabilities]


def pick(scores: list[float], flagged: list[bool]) -> int:
    """The index of the best candidate: any unflagged one before a flagged one (the collapse
    guard), then the higher score, then the earlier candidate."""
    return max(range(len(scores)), key=lambda k: (not flagged[k], scores[k], -k))
