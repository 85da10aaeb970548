"""``im``: information maximisation, H(mean prediction) − mean H(prediction) on the target.

High when predictions are individually confident and diverse across classes (the mutual
information between inputs and predicted labels); Gomes, Krause & Perona, "Discriminative
Clustering by Regularized Information Maximization", NeurIPS 2010, the objective SHOT trains with.
"""

from dasuite.validators.outputs import Outputs, prediction_entropy


def im(outputs: Outputs) -> float:
    p = outputs.target_probabilities
    return (prediction_entropy(p.mean(0)) - prediction_entropy(p).mean()).item()
