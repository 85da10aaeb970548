"""``bnm``: the nuclear norm of the target prediction matrix, divided by the number of samples.

Large when predictions are both confident and diverse (Cui et al., "Towards Discriminability and
Diversity: Batch Nuclear-norm Maximization under Label Insufficient Situations", CVPR 2020); one of
the two best validators over 1M checkpoints in Musgrave et al., "Three New Validators and a
Large-Scale Benchmark Ranking for Unsupervised Domain Adaptation", 2022.
"""

import torch

from dasuite.validators.outputs import Outputs


def bnm(outputs: Outputs) -> float:
    p = outputs.target_probabilities
    return (torch.linalg.svdvals(p).sum() / len(p)).item()
