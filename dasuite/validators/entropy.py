"""``entropy``: the negated mean entropy of the target predictions (confident models score higher).

Used as a validator by Morerio et al., "Minimal-Entropy Correlation Alignment for Unsupervised Deep
Domain Adaptation", ICLR 2018. A model that predicts one class for everything scores best, which is
why selection also runs the collapse guard.
"""

from dasuite.validators.outputs import Outputs, prediction_entropy


def entropy(outputs: Outputs) -> float:
    return -prediction_entropy(outputs.target_probabilities).mean().item()
