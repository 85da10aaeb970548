"""``source_acc``: accuracy on the held-out labeled source validation set.

The baseline every validation study compares against; in large benchmarks it is hard to beat
(Musgrave et al., "Benchmarking Validation Methods for Unsupervised Domain Adaptation", 2021).
"""

from dasuite.validators.outputs import Outputs


def source_acc(outputs: Outputs) -> float:
    return (outputs.source_logits.argmax(1) == outputs.source_labels).double().mean().item()
