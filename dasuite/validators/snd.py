"""``snd``: soft neighbourhood density of the target predictions.

Saito et al., "Tune it the Right Way: Unsupervised Validation of Domain Adaptation via Soft
Neighborhood Density", ICCV 2021: L2-normalise each target softmax vector, take the cosine
similarities to all other target samples, turn each row into a distribution with a softmax at
temperature τ = 0.05, and average the rows' entropies. Dense, well-clustered neighbourhoods score
high; it can also reward collapsed models, hence the collapse guard.
"""

import torch
import torch.nn.functional as F

from dasuite.validators.outputs import Outputs, prediction_entropy

TEMPERATURE = 0.05


def snd(outputs: Outputs) -> float:
    p = F.normalize(outputs.target_probabilities, dim=1)
    similarity = p @ p.T
    similarity.fill_diagonal_(-torch.inf)
    return prediction_entropy((similarity / TEMPERATURE).softmax(1)).mean().item()
